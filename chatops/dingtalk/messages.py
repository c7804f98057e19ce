"""Builders for the messages the robot sends (docs/dingtalk.md §2.3-§2.4, §5).

All builders return the webhook message JSON (what a sessionWebhook or the synchronous reply
takes). `to_openapi` converts one to the OpenAPI's ``msgKey``/``msgParam`` pair.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, List, Sequence, Tuple
from urllib.parse import quote

MSG_PARAM_MAX_BYTES = 15_000
_TRUNCATED = "\n…（消息过长，已截断）"


def text_message(content: str, at_user_ids: Iterable[str] = ()) -> Dict[str, Any]:
    ids = _ids(at_user_ids)
    message: Dict[str, Any] = {
        "msgtype": "text",
        "text": {"content": _with_mentions(content, ids, "\n")},
    }
    if ids:
        message["at"] = {"atUserIds": ids, "isAtAll": False}
    return message


def markdown_message(title: str, text: str, at_user_ids: Iterable[str] = ()) -> Dict[str, Any]:
    ids = _ids(at_user_ids)
    message: Dict[str, Any] = {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": _with_mentions(text, ids, "\n\n")},
    }
    if ids:
        message["at"] = {"atUserIds": ids, "isAtAll": False}
    return message


def dtmd_link(label: str, content: str) -> str:
    """A markdown link that, when tapped, makes the user's client send ``content`` to the chat."""
    url = f"dtmd://dingtalkclient/sendMessage?content={quote(content, safe='')}"
    return f"[{_escape_label(label)}]({url})"


def choices_markdown(
    title: str,
    question: str,
    options: Sequence[Tuple[str, str]],
    at_user_ids: Iterable[str] = (),
    typed_hint: bool = True,
) -> Dict[str, Any]:
    """A markdown question with one tappable link per (label, content_to_send) option.

    With ``typed_hint`` the plain content is shown next to each link too, so users on clients
    that do not follow dtmd:// links (docs/dingtalk.md §8.4) can still type the answer.
    """
    lines = [question.rstrip(), ""]
    for label, content in options:
        hint = f"（或回复：{content}）" if typed_hint and content != label else ""
        lines.append(f"- {dtmd_link(label, content)}{hint}")
    return markdown_message(title, "\n".join(lines), at_user_ids)


def to_openapi(message: Dict[str, Any]) -> Tuple[str, str]:
    """(msgKey, msgParam JSON string) for the robot OpenAPI; msgParam fits in 15000 bytes."""
    msgtype = message.get("msgtype")
    if msgtype == "text":
        content = str(message.get("text", {}).get("content", ""))
        return "sampleText", _fit(lambda c: {"content": c}, content)
    if msgtype == "markdown":
        markdown = message.get("markdown", {})
        title = str(markdown.get("title", ""))
        return "sampleMarkdown", _fit(
            lambda t: {"title": title, "text": t}, str(markdown.get("text", ""))
        )
    raise ValueError(f"cannot send msgtype {msgtype!r} through the OpenAPI")


def _fit(build: Any, body: str) -> str:
    """Serialise build(body), shortening body on a character boundary until it fits."""
    param = _dumps(build(body))
    if len(param.encode("utf-8")) <= MSG_PARAM_MAX_BYTES:
        return param
    lo, hi = 0, len(body)
    best = _dumps(build(_TRUNCATED.lstrip("\n")))
    # Binary search on the character count: JSON escaping makes bytes-per-char uneven.
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _dumps(build(body[:mid] + _TRUNCATED))
        if len(candidate.encode("utf-8")) <= MSG_PARAM_MAX_BYTES:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ids(at_user_ids: Iterable[str]) -> List[str]:
    seen: List[str] = []
    for user_id in at_user_ids:
        if user_id and user_id not in seen:
            seen.append(user_id)
    return seen


def _with_mentions(text: str, ids: Sequence[str], separator: str) -> str:
    # A mention only renders (and in markdown only notifies) when "@<userId>" is in the text.
    missing = [
        f"@{user_id}" for user_id in ids if not re.search(rf"@{re.escape(user_id)}(?![\w-])", text)
    ]
    if not missing:
        return text
    return f"{text}{separator}{' '.join(missing)}" if text else " ".join(missing)


def _escape_label(label: str) -> str:
    return label.replace("[", "\\[").replace("]", "\\]")
