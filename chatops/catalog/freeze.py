"""Freeze windows: times when nobody deploys to an environment (``freeze_windows`` in the catalog).

```yaml
timezone: Asia/Shanghai                  # default
freeze_windows:
  - name: 周末封板
    environments: [prod]
    weekly: {from: "fri 20:00", to: "mon 08:00"}
  - name: 双十一大促
    environments: [prod, uat]
    from: "2026-11-10 00:00"
    to: "2026-11-12 00:00"
```

A weekly window repeats every week (it may wrap over the weekend); a dated one happens once.
Times are in the catalog's time zone. Who may still deploy during a freeze is the access
policy's ``freeze_exempt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from chatops.catalog.reader import Reader

DEFAULT_TIMEZONE = "Asia/Shanghai"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class FreezeWindow:
    name: str
    environments: Tuple[str, ...]
    # A dated window: [start, end).
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    # A weekly window: (weekday 0 = Monday, time) to (weekday, time), possibly wrapping.
    weekly_from: Optional[Tuple[int, time]] = None
    weekly_to: Optional[Tuple[int, time]] = None

    def ends_after(self, when: datetime) -> Optional[datetime]:
        """When the occurrence covering ``when`` ends, or None if ``when`` is not frozen."""
        if self.start is not None and self.end is not None:
            return self.end if self.start <= when < self.end else None
        assert self.weekly_from is not None and self.weekly_to is not None
        week_start = (when - timedelta(days=when.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        for weeks_back in (1, 0):  # an occurrence may have begun in the previous week
            begin = _at(week_start - weeks_back * WEEK, *self.weekly_from)
            end = _at(week_start - weeks_back * WEEK, *self.weekly_to)
            if end <= begin:
                end += WEEK
            if begin <= when < end:
                return end
        return None

    def describe(self) -> str:
        if self.start is not None and self.end is not None:
            return f"{self.start:%m-%d %H:%M} ~ {self.end:%m-%d %H:%M}"
        assert self.weekly_from is not None and self.weekly_to is not None
        names = "一二三四五六日"
        return (
            f"每周{names[self.weekly_from[0]]} {self.weekly_from[1]:%H:%M} ~ "
            f"周{names[self.weekly_to[0]]} {self.weekly_to[1]:%H:%M}"
        )

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "environments": list(self.environments)}
        if self.start is not None and self.end is not None:
            out["from"] = f"{self.start:%Y-%m-%d %H:%M}"
            out["to"] = f"{self.end:%Y-%m-%d %H:%M}"
        elif self.weekly_from is not None and self.weekly_to is not None:
            out["weekly"] = {
                "from": f"{DAYS[self.weekly_from[0]]} {self.weekly_from[1]:%H:%M}",
                "to": f"{DAYS[self.weekly_to[0]]} {self.weekly_to[1]:%H:%M}",
            }
        return out


def _at(week_start: datetime, weekday: int, at: time) -> datetime:
    return (week_start + timedelta(days=weekday)).replace(hour=at.hour, minute=at.minute)


def active_freeze(
    windows: Sequence[FreezeWindow], env_key: str, when: datetime
) -> Optional[Tuple[FreezeWindow, datetime]]:
    """The freeze covering ``env_key`` at ``when`` (the one ending last), with its end."""
    found: List[Tuple[FreezeWindow, datetime]] = []
    for window in windows:
        if env_key in window.environments:
            end = window.ends_after(when)
            if end is not None:
                found.append((window, end))
    return max(found, key=lambda f: f[1]) if found else None


def parse_timezone(reader: Reader, node: Optional[yaml.Node]) -> ZoneInfo:
    name = reader.scalar(node, "timezone") if node is not None else DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail(node, f"unknown time zone '{name}'") from None


def parse_freeze_windows(
    reader: Reader, node: Optional[yaml.Node], zone: ZoneInfo, environments: List[str]
) -> Tuple[FreezeWindow, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise reader.fail(node, "freeze_windows must be a list")
    windows = []
    for item in node.value:
        fields = reader.mapping(item, "a freeze window")
        reader.reject_unknown(
            fields, {"name", "environments", "weekly", "from", "to"}, "a freeze window"
        )
        name = reader.scalar(reader.require(item, fields, "name", "a freeze window"), "name")
        what = f"freeze window '{name}'"
        envs = reader.strings(reader.require(item, fields, "environments", what), what)
        for env in envs:
            if env not in environments:
                raise reader.fail(fields["environments"][1], f"{what} names unknown '{env}'")
        if "weekly" in fields:
            weekly = reader.mapping(fields["weekly"][1], f"{what}.weekly")
            reader.reject_unknown(weekly, {"from", "to"}, f"{what}.weekly")
            begin = _weekday_time(reader, reader.require(item, weekly, "from", what), what)
            end = _weekday_time(reader, reader.require(item, weekly, "to", what), what)
            windows.append(FreezeWindow(name, envs, weekly_from=begin, weekly_to=end))
        else:
            start = _datetime(reader, reader.require(item, fields, "from", what), zone, what)
            end_at = _datetime(reader, reader.require(item, fields, "to", what), zone, what)
            if end_at <= start:
                raise reader.fail(fields["to"][1], f"{what} ends before it starts")
            windows.append(FreezeWindow(name, envs, start=start, end=end_at))
    return tuple(windows)


def _weekday_time(reader: Reader, node: yaml.Node, what: str) -> Tuple[int, time]:
    text = reader.scalar(node, what).strip().lower()
    day, _, clock = text.partition(" ")
    try:
        return DAYS.index(day[:3]), time.fromisoformat(clock.strip())
    except ValueError:
        raise reader.fail(node, f"{what}: '{text}' is not like 'fri 20:00'") from None


def _datetime(reader: Reader, node: yaml.Node, zone: ZoneInfo, what: str) -> datetime:
    text = reader.scalar(node, what).strip()
    try:
        return datetime.fromisoformat(text).replace(tzinfo=zone)
    except ValueError:
        raise reader.fail(node, f"{what}: '{text}' is not like '2026-11-10 00:00'") from None
