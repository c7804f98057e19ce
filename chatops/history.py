"""The deploy history ("发布记录", "今天谁发了生产", "订单服务最近几次发布") from the audit trail.

Each entry is one task the bot started: what, where, who asked, who approved, and the result
when the follow-up worker recorded one. Periods are read from plain words ("今天", "昨天",
"本周", "最近 3 天") in the catalog's timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo

from chatops.state import ApprovalStore, AuditLog
from chatops.state import audit as events

DEFAULT_LIMIT = 10
MAX_LIMIT = 30
# How many audit rows to read before filtering by service.
SCAN = 500

_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


@dataclass(frozen=True)
class HistoryQuery:
    environment: Optional[str] = None  # environment key
    service: Optional[str] = None  # service name
    since: Optional[float] = None
    period: str = ""  # the words the period came from, for the reply ("今天")
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    services: Tuple[str, ...]
    environment: str
    branch: str
    requester: str
    approvers: Tuple[str, ...]
    workflow_key: str
    task_id: int
    result: Optional[str]  # Zadig's final status, None while running or unknown


def _number(text: str) -> Optional[int]:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    return _CN_DIGITS.get(text)


def parse_period(text: str, now: float, tz: ZoneInfo) -> Tuple[Optional[float], str]:
    """(since, words) for "今天/昨天/本周/最近 N 天/近一周" in ``text``; (None, "") otherwise."""
    today = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if "今天" in text or "今日" in text or "today" in text.lower():
        return today.timestamp(), "今天"
    if "昨天" in text or "昨晚" in text or "yesterday" in text.lower():
        return (today - timedelta(days=1)).timestamp(), "昨天以来"
    match = re.search(
        r"(?:最近|近|过去)\s*([0-9]+|[一二两三四五六七八九十])\s*(天|周|个?星期)", text
    )
    if match:
        count = _number(match.group(1)) or 1
        days = count * (7 if match.group(2) != "天" else 1)
        return (today - timedelta(days=days - 1)).timestamp(), match.group(0)
    if "本周" in text or "这周" in text or "这个星期" in text:
        return (today - timedelta(days=today.weekday())).timestamp(), "本周"
    if "上周" in text:
        return (today - timedelta(days=today.weekday() + 7)).timestamp(), "上周以来"
    return None, ""


def parse_limit(text: str) -> int:
    """ "最近 5 次" -> 5 (at most MAX_LIMIT)."""
    match = re.search(r"([0-9]+|[一二两三四五六七八九十])\s*(?:次|条|个)", text)
    number = _number(match.group(1)) if match else None
    return max(1, min(MAX_LIMIT, number)) if number else DEFAULT_LIMIT


class DeployHistory:
    def __init__(self, audit: AuditLog, approvals: ApprovalStore) -> None:
        self.audit = audit
        self.approvals = approvals

    def entries(self, query: HistoryQuery) -> List[HistoryEntry]:
        """Newest first."""
        found: List[HistoryEntry] = []
        triggered = self.audit.events(
            since=query.since,
            decisions=[events.TRIGGERED],
            environment=query.environment,
            limit=SCAN,
            newest_first=True,
        )
        for event in triggered:
            if event.action != "deploy" or event.task_id is None or not event.workflow_key:
                continue
            if query.service and query.service not in event.services:
                continue
            requester = event.actor_nick or event.actor_id
            approvers: Tuple[str, ...] = ()
            if event.approval_id is not None:
                request = self.approvals.get(event.approval_id)
                if request is not None:
                    requester = request.requester_nick or request.requester
                    approvers = tuple(request.approver_nicks)
            result = self.audit.result_of(event.workflow_key, event.task_id)
            found.append(
                HistoryEntry(
                    at=event.at,
                    services=tuple(event.services),
                    environment=event.environment or "",
                    branch=str((event.plan or {}).get("branch") or ""),
                    requester=requester,
                    approvers=approvers,
                    workflow_key=event.workflow_key,
                    task_id=event.task_id,
                    result=result.detail if result is not None else None,
                )
            )
            if len(found) >= query.limit:
                break
        return found
