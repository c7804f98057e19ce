"""DIET finds names, the negation rules decide which are unwanted: a catalog name said inside a
negation in the training data must be annotated like any other (scripts/annotate_negated.py)."""

from __future__ import annotations

import pytest

from scripts.annotate_negated import DATA, SKIP_FILES, _names, annotate, process


@pytest.mark.parametrize(
    "raw, expected",
    [
        (
            "不是网关，把[前端](service)发到[测试](environment)",
            "不是[网关](service)，把[前端](service)发到[测试](environment)",
        ),
        (
            "[支付](service)发[uat](environment)，订单先不发了",
            "[支付](service)发[uat](environment)，[订单](service)先不发了",
        ),
        # Outside a negation a name-like word stays plain: 测试同学 are the QA people.
        ("测试同学说可以发了", "测试同学说可以发了"),
    ],
)
def test_negated_names_get_annotated(raw, expected):
    assert annotate(raw, _names()) == expected


def test_the_training_data_annotates_every_negated_name():
    names = _names()
    missing = [
        line
        for path in sorted(DATA.glob("*.yml"))
        if path.name not in SKIP_FILES
        for line in process(path, names)[1]
    ]
    assert missing == []
