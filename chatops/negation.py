"""Values said inside a negation are not requests: "不用发网关了", "别发生产，发测试".

A negation cue opens a scope that runs to the end of its clause (punctuation, or a word that
turns to what is wanted instead: "而是", "改成", "只发"). Entities that start inside a scope are
dropped before any slot can take them. "取消" is not a cue: it is the cancel request itself
("取消测试环境的发布"), and "没/没有" are not either: they ask about the past ("为什么没发到生产").
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence, Tuple

_CUES = (
    "不用",
    "不要",
    "不需要",
    "不必",
    "无需",
    "别",
    "甭",
    "先不",
    "暂不",
    "暂时不",
    "不是",
    "不发",
    "不部署",
    "不上",
    "不动",
    "除了",
    "don't",
    "dont",
    "do not",
    "not ",
    "except",
    "no need",
)
_CUE = re.compile("|".join(re.escape(c) for c in sorted(_CUES, key=len, reverse=True)), re.I)
_END = re.compile(r"[，,。.;；!！?？\n]|而是|改成|改为|换成|只发|只要|但是|但|instead|but", re.I)


# "别" inside a word is not a cue: 分别, 特别, 区别, 级别, 类别, 个别, 告别, 识别, 性别.
_NOT_BIE = "分特区级类个告识性"


def _is_cue(text: str, start: int, cue: str) -> bool:
    before = text[start - 1] if start else ""
    if cue == "别":
        return before not in _NOT_BIE or not before
    if cue.startswith("不") and len(cue) > 1 and before == cue[1]:
        return False  # an A-not-A question: 要不要, 是不是, 用不用, 发不发
    return True


def negated_spans(text: str) -> List[Tuple[int, int]]:
    """(start, end) character ranges of ``text`` that are inside a negation."""
    spans = []
    for cue in _CUE.finditer(text or ""):
        if not _is_cue(text, cue.start(), cue.group().lower()):
            continue
        end = _END.search(text, cue.end())
        spans.append((cue.start(), end.start() if end else len(text)))
    return spans


def drop_negated(text: str, entities: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The entities that are not inside a negation (those without a position are kept)."""
    spans = negated_spans(text)
    if not spans:
        return list(entities)
    kept = []
    for entity in entities:
        start = entity.get("start")
        if isinstance(start, int) and any(lo <= start < hi for lo, hi in spans):
            continue
        kept.append(entity)
    return kept
