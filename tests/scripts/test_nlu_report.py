"""scripts/nlu_report.py: the scorer and its command line."""

from __future__ import annotations

from pathlib import Path

from scripts.nlu_report import article_frame, main, score


def test_a_model_path_that_does_not_exist_is_refused(tmp_path: Path, capsys):
    missing = tmp_path / "models" / "chatops-nope.tar.gz"

    assert main(["--model", str(missing), "--gate"]) == 2
    assert f"no model file at {missing}" in capsys.readouterr().err


def test_a_folder_is_not_a_model(tmp_path: Path):
    assert main(["--model", str(tmp_path)]) == 2


def test_whole_frame_needs_the_intent_and_every_entity():
    gold = [("deploy", {("service", "order-service"), ("environment", "test")})] * 3
    predicted = [
        ("deploy", {("service", "order-service"), ("environment", "test")}),
        ("deploy", {("service", "order-service")}),
        ("query_status", {("service", "order-service"), ("environment", "test")}),
    ]

    result = score("bot", gold, predicted)

    assert result["whole_frame_accuracy"] == round(1 / 3, 4)
    assert result["intent_accuracy"] == round(2 / 3, 4)


def test_the_articles_regex_understands_only_its_one_sentence():
    assert article_frame("执行dev环境order流水线") == (
        "deploy",
        {("environment", "dev"), ("service", "order")},
    )
    assert article_frame("把订单服务发到测试环境") == ("", set())


def test_every_file_under_the_held_out_folder_is_read_and_tagged_by_its_stem(tmp_path: Path):
    from scripts.nlu_report import data_files, load_examples

    (tmp_path / "phenomena").mkdir()
    (tmp_path / "test_nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n', encoding="utf-8"
    )
    (tmp_path / "phenomena" / "typos.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: deploy\n  examples: |\n'
        '    - 把[网观]{"entity": "service", "value": "gateway"}发了\n',
        encoding="utf-8",
    )
    (tmp_path / "phenomena" / "README.md").write_text("# not data\n", encoding="utf-8")

    assert [p.name for p in data_files(tmp_path)] == ["typos.yml", "test_nlu.yml"]
    assert sorted((text, intent, tag) for text, intent, _, tag in load_examples(tmp_path)) == [
        ("你好", "greet", "test_nlu"),
        ("把网观发了", "deploy", "typos"),
    ]


def test_frames_are_scored_per_tag_with_the_article_beside_them():
    from scripts.nlu_report import per_tag

    gold = [("deploy", {("service", "gateway")}), ("greet", set()), ("greet", set())]
    bot = [("deploy", {("service", "gateway")}), ("greet", set()), ("thank", set())]
    article = [("", set())] * 3

    result = per_tag(["typos", "well_formed", "well_formed"], gold, bot, article)

    assert result["typos"]["whole_frame_accuracy"] == 1.0
    assert result["well_formed"]["whole_frame_accuracy"] == 0.5
    assert result["well_formed"]["article_whole_frame_accuracy"] == 0.0
    assert result["well_formed"]["n"] == 2


def result_with(frame: float, tags: dict, intent: float = 0.97, f1: float = 0.96) -> dict:
    return {
        "rasa": {"intent_accuracy": intent},
        "bot": {"entity_f1": f1, "whole_frame_accuracy": frame},
        "per_tag": {t: {"whole_frame_accuracy": v} for t, v in tags.items()},
    }


def test_the_gate_holds_overall_and_for_every_tag():
    from scripts.nlu_report import gate_failures

    assert gate_failures(result_with(0.93, {"typos": 0.9, "negation": 0.85})) == []
    failures = gate_failures(result_with(0.89, {"typos": 0.9, "negation": 0.84}, f1=0.92))
    assert failures == [
        "entity F1 (values) 0.920 < 0.93",
        "whole frame 0.890 < 0.9",
        "whole frame in 'negation' 0.840 < 0.85",
    ]
