"""Environment locks and freeze windows: the guard every deploy, retry and rollback passes, and
the reading of "锁定生产环境，今晚有大促" into a reason and an end.

The rules (`blocked`):

- **deploy, retry**: a lock refuses everyone, the person who locked it included (a lock means
  nobody deploys; whoever needs to lifts it first). A freeze window refuses everyone but the
  policy's ``freeze_exempt``.
- **rollback**: rolling back is how you get out of trouble during a freeze or an incident, so a
  lock or a freeze refuses it *unless* the actor is freeze-exempt: the exempt list is the
  policy's word on who may act while the environment is frozen.
- anything else (cancel, approve, lock, unlock ...) is not blocked here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from chatops.access import Actor, frozen_exempt
from chatops.catalog import Catalog, Environment
from chatops.catalog.freeze import active_freeze
from chatops.replies.locks import blocked_by_freeze, blocked_by_lock
from chatops.state.locks import LockStore

GUARDED = ("deploy", "retry", "rollback")


def blocked(
    catalog: Catalog,
    locks: LockStore,
    env: Environment,
    action: str,
    actor: Actor,
    now: float,
) -> Optional[str]:
    """Why ``actor`` may not ``action`` in ``env`` right now (a Chinese sentence), or None."""
    if action not in GUARDED:
        return None
    exempt = frozen_exempt(catalog.access, env.key, actor)
    if action == "rollback" and exempt:
        return None
    # Who may still act while it is frozen (named in the refusal), the asker left out.
    exempt_ids = catalog.access.for_environment(env.key).freeze_exempt
    helpers = [s for s in catalog.access.staff_of(exempt_ids) if s != actor.staff_id]
    lock = locks.get(env.key, now=now)
    if lock is not None:
        # Deploys and retries wait for the unlock whoever asks; a rollback names who can.
        shown = helpers if action == "rollback" else ()
        return blocked_by_lock(lock, env, action, catalog.timezone, helpers=shown)
    frozen = active_freeze(
        catalog.freeze_windows, env.key, datetime.fromtimestamp(now, catalog.timezone)
    )
    if frozen is not None and not exempt:
        window, ends = frozen
        return blocked_by_freeze(window, env, action, ends, helpers=helpers)
    return None


# -- "锁定生产环境，今晚有大促" -> (reason, until) ------------------------------------------------

_CN_NUMBERS = "零一二两三四五六七八九十"
_NUMBER = rf"\d+(?:\.\d+)?|[{_CN_NUMBERS}]+"
# Until a moment: "到明天上午10点", "直到 22:00", "到今晚10点半", "until 10pm", "10点前".
_AT = re.compile(
    rf"(?:(?P<to>直到|一直到|到|至|until|till)\s*)?"
    rf"(?P<day>今天|今日|今晚|明天|明日|明早|明晚|后天|today|tonight|tomorrow)?\s*"
    rf"(?P<part>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?\s*"
    rf"(?P<hour>\d{{1,2}}|[{_CN_NUMBERS}]{{1,3}})"
    rf"(?:\s*[:：]\s*(?P<minute>\d{{2}})"
    rf"|\s*(?P<dian>[点時时])\s*(?:(?P<half>半)|(?P<min2>\d{{1,2}})\s*分?)?)?"
    rf"(?:\s*(?P<ampm>am|pm)\b)?"
    rf"(?P<before>\s*(?:之前|以前|前|为止))?",
    re.IGNORECASE,
)
_DAY_ONLY = re.compile(
    r"(?:直到|一直到|到|至|until|till)\s*(?P<day>今天|今日|今晚|明天|明日|后天|today|tonight|tomorrow)"
    r"(?P<before>\s*(?:之前|以前|前|为止))?",
    re.IGNORECASE,
)
# For a while: "3小时", "两个小时", "半小时", "30分钟", "for 2 hours", "2h".
_FOR_CN = re.compile(rf"(?P<n>{_NUMBER})?\s*个?\s*(?P<half>半)?\s*(?P<unit>小时|钟头|分钟|天)")
_FOR_EN = re.compile(
    r"(?:for\s+)?(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>hours?|hrs?|h|minutes?|mins?|m|days?|d)\b",
    re.IGNORECASE,
)
_COMMANDS = re.compile(
    r"锁定|锁住|锁上|锁一下|封网|封板|冻结|锁|(?<![A-Za-z])lock(?![A-Za-z])", re.IGNORECASE
)
_FILLERS = re.compile(r"^(?:请|麻烦|帮忙|帮我|给我|把|给)+")
_LEADING = re.compile(
    r"^[\s,，.。:：;；、\-—]*(?:(?:原因|理由)\s*(?:是|为)?\s*[:：]?|因为)?[\s,，:：]*"
)
_TRAILING = re.compile(r"[\s,，.。:：;；、\-—]+$")
_SOME_ENV = re.compile(r"^[\s,，]*[\w-]{1,10}?环境")
_DAYS = {"明": 1, "tomorrow": 1, "后": 2}
_PM = ("下午", "傍晚", "晚上")


def parse_lock_request(
    text: str, now: float, tz: ZoneInfo, *, names: Sequence[str] = ()
) -> Tuple[str, Optional[float]]:
    """(reason, until) from a lock request; ``until`` is None when no end is said.

    The end: a moment ("到 22:00", "到明天上午10点", "到 8点半", "今晚10点前"; a time already past
    today means tomorrow; "到明天" alone means the end of tomorrow) or a span ("3小时", "两个小时",
    "半小时", "30分钟", "for 2 hours"). The reason is what is left once the command word
    ("锁定", "锁一下", "封网", "lock" ...), the end and the first mention of the environment are
    removed: ``names`` are the catalog's environment keys and aliases (without them only a word
    ending in 环境 right after the command is recognised). The reason may be empty.
    """
    current = datetime.fromtimestamp(now, tz)
    rest, until = _take_until(text, current)
    rest = _FILLERS.sub("", rest.strip())
    rest = _COMMANDS.sub("", rest, count=1)
    rest = _strip_environment(rest, names)
    rest = _TRAILING.sub("", _LEADING.sub("", rest))
    return re.sub(r"\s+", " ", rest), until


def _take_until(text: str, current: datetime) -> Tuple[str, Optional[float]]:
    for match in _AT.finditer(text):
        said_when = match.group("to") or match.group("before") or match.group("day")
        said_time = match.group("minute") or match.group("dian") or match.group("ampm")
        if not (said_when and said_time):
            continue  # a bare number is not an end ("3 台机器", "明天的 2 个版本")
        at = _moment(match, current)
        if at is not None:
            return _cut(text, match), at.timestamp()
    whole_day = _DAY_ONLY.search(text)
    if whole_day is not None:  # "到明天": to the end of that day
        day = current.date() + timedelta(days=_day_offset(whole_day.group("day")) + 1)
        end = datetime(day.year, day.month, day.day, tzinfo=current.tzinfo)
        return _cut(text, whole_day), end.timestamp()
    for pattern in (_FOR_CN, _FOR_EN):
        for match in pattern.finditer(text):
            seconds = _span(match)
            if seconds:
                return _cut(text, match), (current + timedelta(seconds=seconds)).timestamp()
    return text, None


def _moment(match: "re.Match[str]", current: datetime) -> Optional[datetime]:
    hour = _number(match.group("hour"))
    minute_text = match.group("minute") or match.group("min2")
    minute = 30 if match.group("half") else int(minute_text or 0)
    if hour is None or hour > 24 or minute > 59:
        return None
    part, day, ampm = match.group("part"), (match.group("day") or "").lower(), match.group("ampm")
    tonight = day in ("今晚", "明晚", "tonight")
    evening = part in _PM or tonight or (ampm or "").lower() == "pm"
    if tonight and part is None and hour < 6:
        hour += 24  # "今晚1点": the small hours after tonight
    elif (evening and hour <= 12) or (part == "中午" and hour < 11):
        hour += 12  # "今晚10点" is 22:00, "今晚12点" midnight, "中午1点" 13:00
    offset = _day_offset(day)
    at = datetime(current.year, current.month, current.day, tzinfo=current.tzinfo)
    at += timedelta(days=offset, hours=hour, minutes=minute)
    if at <= current:
        at += timedelta(days=1)  # "到 9点" said at 10:00 means tomorrow
    return at


def _day_offset(day: Optional[str]) -> int:
    day = (day or "").lower()
    for prefix, offset in _DAYS.items():
        if day.startswith(prefix):
            return offset
    return 0


def _span(match: "re.Match[str]") -> float:
    unit = match.group("unit").lower()
    amount = _number(match.group("n")) if match.group("n") else 0.0
    if amount is None:
        return 0.0
    if "half" in match.groupdict() and match.group("half"):
        amount += 0.5
    if unit in ("天",) or unit.startswith("d"):
        return amount * 86400
    if unit in ("小时", "钟头") or unit.startswith("h"):
        return amount * 3600
    return amount * 60


def _number(text: Optional[str]) -> Optional[float]:
    """Arabic or Chinese numerals up to 99 ("10", "十", "十一", "二十三", "两")."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")}
    digits["两"] = 2
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1 or any(c not in digits for c in tens + ones):
            return None
        return float(digits[tens] * 10 if tens else 10) + (digits[ones] if ones else 0)
    if len(text) == 1 and text in digits:
        return float(digits[text])
    return None


def _cut(text: str, match: "re.Match[str]") -> str:
    return _join(text[: match.start()], text[match.end() :])


def _join(before: str, after: str) -> str:
    """Two pieces of a sentence with something taken out between them; a space only where two
    English words would otherwise run together."""
    gap = " " if before[-1:].isascii() and before[-1:].isalnum() and after[:1].isalnum() else ""
    return before + gap + after


def _strip_environment(text: str, names: Sequence[str]) -> str:
    """Remove the first mention of an environment (the earliest; the longest name there)."""
    best: Optional[Tuple[int, int]] = None
    for name in names:
        if not name:
            continue
        pattern = re.escape(name) + r"(?:环境)?"
        if name.isascii():
            pattern = rf"(?<![A-Za-z0-9_-]){pattern}(?![A-Za-z0-9_-])"
        match = re.search(pattern, text, re.IGNORECASE)
        if match and (best is None or (match.start(), -match.end()) < (best[0], -best[1])):
            best = (match.start(), match.end())
    if best is not None:
        return _join(text[: best[0]], text[best[1] :])
    return _SOME_ENV.sub("", text, count=1)
