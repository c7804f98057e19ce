"""Values said inside a negation are not requests: "不用发网关了", "别发生产，发测试".

A negation cue opens a scope that runs to the end of its clause (punctuation, a space after a
final particle as in dictated text, or a word that turns to what is wanted instead: "而是",
"改成", "只发"); the scope of "不是" also ends at the
next "是" ("不是网关是前端", as voice input arrives without punctuation). Entities that start
inside a scope are dropped before any slot can take them.

A cue can also come *after* what it negates: "支付就不用了", "订单先不发了", "网关不要". When the
cue closes its clause (nothing but a verb and particles after it), the value said just before it
in the clause is negated, with any joined to it by "和/跟/、" ("订单和支付都先不发了").

"取消" is not a cue: it is the cancel request itself ("取消测试环境的发布"), and "没/没有" are not
either: they ask about the past ("为什么没发到生产").
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
    "先不用",
    "先不要",
    "先不需要",
    "暂不",
    "暂不用",
    "暂时不",
    "暂时不用",
    "暂时不要",
    "不是",
    "不发",
    "不部署",
    "不上",
    "不动",
    "不回滚",
    "不回退",
    "不重试",
    "不取消",
    "不看",
    "不查",
    "不锁",
    "除了",
    "don't",
    "dont",
    "do not",
    "not ",
    "except",
    "no need",
)
_CUE = re.compile("|".join(re.escape(c) for c in sorted(_CUES, key=len, reverse=True)), re.I)
# A "了" or "吧" with more said after it ends a clause in unpunctuated text ("测试就别发了直接发
# 预发"), except in 除了 / 为了.
_PARTICLE_BREAK = r"(?<=[了吧])(?<![除为]了)(?=[^\s，,。.;；!！?？了啦吧啊呀哈呢哦嘛])"
_END = re.compile(
    r"[，,。.;；!！?？\n]|(?<=[了啦吧啊呀哈呢哦嘛])\s+|" + _PARTICLE_BREAK + r"|而是|改成|改为|换成"
    r"|只发|只要|但是|但|直接|先发|再发|都|也|还|以外|之外|\s(?:to|in|on|into)\s|instead|but",
    re.I,
)
# "不是 X 是 Y": a "是" that is not itself negated turns to what is wanted.
_TURN = re.compile(r"(?<!不)是")
# Clauses for a cue after what it negates; a space between Chinese words ends one too, as
# dictated text comes: "算了生产不发了 订单服务先发测试".
_CLAUSE = re.compile(r"[，,。.;；!！?？\n]|(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])|" + _PARTICLE_BREAK)
# What may follow a cue that closes its clause: a verb of the request and particles. Not 上线:
# "订单服务先别上线" says where not to go (production), not which service.
_CLOSING = re.compile(
    r"\s*(?:发布?|部署|上|动|弄|搞|跑|执行|回滚|回退|重试|重跑|停|取消|看|查|锁)?"
    r"(?:它|他|了|啦|吧|啊|呀|哈|呢|哦|喔|嘛|先|都|也|就)*\s*$"
)
# "网关改成前端": what is replaced is not wanted (only right before the word).
_REPLACED = re.compile(r"改成|改为|换成|换为")
_ADJACENT = re.compile(r"^[\s的了也就还先都]*$")
# What may join two values negated together: "订单和支付都不发了".
_JOIN = re.compile(r"^\s*(?:和|跟|与|及|以及|还有|、|/|,|，|&|and)?\s*$", re.I)


# "别" inside a word is not a cue: 分别, 特别, 区别, 级别, 类别, 个别, 告别, 识别, 性别; nor in
# 别的 / 别人 / 别家 / 别处 ("别的服务都发到测试").
_NOT_BIE = "分特区级类个告识性"
_BIE_WORDS = "的人家处"
# "连不上", "发不上", "跑不动": a verb before 不上/不动 makes "cannot", not "do not".
_COMPLEMENT_VERBS = "连发跑对跟赶登推拉搞弄走用部"
# "别忘了发前端", "不要漏了支付": a reminder of what to do.
_REMINDER = "忘漏"


def _is_cue(text: str, start: int, cue: str) -> bool:
    before = text[start - 1] if start else ""
    after = text[start + len(cue) : start + len(cue) + 1]
    if after and after in _REMINDER:
        return False
    if cue == "别":
        return (before not in _NOT_BIE or not before) and after not in _BIE_WORDS or not after
    if cue in ("不上", "不动") and before and before in _COMPLEMENT_VERBS:
        return False
    if cue.startswith("不") and len(cue) > 1 and text[:start].endswith(cue[1:]):
        return False  # an A-not-A question: 要不要, 是不是, 发不发, 回滚不回滚
    if cue.startswith("不") and len(cue) > 1 and before == cue[1]:
        return False  # 用不用 (cue 不用 after 用)
    if cue == "除了" and _additive(text, start + len(cue)):
        return False  # "除了订单服务，支付服务也要发": besides, not except
    return True


def _additive(text: str, start: int) -> bool:
    """After 除了: an 也/还 before any 都/全/其他 means "besides" (nothing is excluded)."""
    also = re.search(r"也|还", text[start:])
    all_ = re.search(r"都|全|其他|其它|别的", text[start:])
    return also is not None and (all_ is None or also.start() < all_.start())


def negated_spans(text: str) -> List[Tuple[int, int]]:
    """(start, end) character ranges of ``text`` that are inside a negation."""
    spans = []
    for cue in _CUE.finditer(text or ""):
        if not _is_cue(text, cue.start(), cue.group().lower()):
            continue
        end = _END.search(text, cue.end())
        stop = end.start() if end else len(text)
        if "是" in cue.group():
            turn = _TURN.search(text, cue.end(), stop)
            stop = turn.start() if turn else stop
        spans.append((cue.start(), stop))
    return spans


def _closing_cues(text: str) -> List[int]:
    """Starts of the cues that close their clause ("支付就不用了"): they negate what precedes."""
    starts = []
    for cue in _CUE.finditer(text or ""):
        if not _is_cue(text, cue.start(), cue.group().lower()):
            continue
        end = _CLAUSE.search(text, cue.end())
        rest = text[cue.end() : end.start() if end else len(text)]
        if _CLOSING.match(rest):
            starts.append(cue.start())
    return starts


def _before(text: str, cue: int, entities: Sequence[Dict[str, Any]]) -> List[int]:
    """Indexes of the entities a clause-closing cue at ``cue`` negates: the last one before it
    in its clause, and those joined to that one."""
    clause_start = max((m.end() for m in _CLAUSE.finditer(text, 0, cue)), default=0)
    placed = [
        (i, e)
        for i, e in enumerate(entities)
        if isinstance(e.get("start"), int)
        and isinstance(e.get("end"), int)
        and clause_start <= e["start"]
        and e["end"] <= cue
    ]
    placed.sort(key=lambda item: item[1]["start"])
    if not placed:
        return []
    chosen = [placed[-1]]
    for item in reversed(placed[:-1]):
        same_kind = item[1].get("entity") == chosen[-1][1].get("entity")
        if not same_kind or not _JOIN.match(text[item[1]["end"] : chosen[-1][1]["start"]]):
            break
        chosen.append(item)
    return [i for i, _ in chosen]


def _replaced(text: str, entities: Sequence[Dict[str, Any]]) -> List[int]:
    """Indexes of the entities right before a "改成/换成" ("网关改成前端")."""
    out = []
    for word in _REPLACED.finditer(text or ""):
        for i in _before(text, word.start(), entities)[:1]:
            if _ADJACENT.match(text[entities[i]["end"] : word.start()]):
                out.append(i)
    return out


def drop_negated(
    text: str, entities: Sequence[Dict[str, Any]], *, forward: bool = True
) -> List[Dict[str, Any]]:
    """The entities that are not inside a negation (those without a position are kept).

    ``forward=False`` applies only the cues that close their clause and replacements: in a
    lock request "别让人往生产发了" names what to lock, while "生产先别锁" still says what not to.
    """
    spans = negated_spans(text) if forward else []
    before = {i for cue in _closing_cues(text) for i in _before(text, cue, entities)}
    before |= set(_replaced(text, entities))
    if not spans and not before:
        return list(entities)
    kept = []
    for i, entity in enumerate(entities):
        start = entity.get("start")
        if isinstance(start, int) and any(lo <= start < hi for lo, hi in spans):
            continue
        if i in before:
            continue
        kept.append(entity)
    return kept
