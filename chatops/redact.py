"""No credential in a log line: sessionWebhook URLs, tokens, secrets and signatures are masked
at the moment a log record is made, whoever logs it (httpx logs every request URL at INFO, and a
sessionWebhook URL is a credential: anyone holding it can post into the group)."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Iterable, List

MASK = "***"
# Environment variables whose values are secrets (chatops/settings.py).
SECRET_SETTINGS = (
    "ZADIG_TOKEN",
    "ZADIG_WEBHOOK_TOKEN",
    "DINGTALK_APP_SECRET",
    "ACTION_SERVER_TOKEN",
)
_QUERY = re.compile(
    r"(?i)\b(session|access_token|accessToken|token|sign|signature|secret|appsecret|ticket)"
    r"=([^&\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=-]+")
_HEADER = re.compile(
    r"(?i)(x-acs-dingtalk-access-token|x-zadig-token|authorization)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials masked."""
    text = _QUERY.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, MASK)
    return text


def _configured_secrets() -> List[str]:
    return [os.environ.get(name, "") for name in SECRET_SETTINGS]


def install() -> None:
    """Mask credentials in every log record of this process (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "chatops_redacts", False):
        return
    secrets = _configured_secrets()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging to report
            return record
        clean = redact(message, secrets)
        if record.exc_info and record.exc_info[1] is not None:
            # Exception texts (httpx errors carry the URL) are rendered later: pre-render them.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return record

    factory.chatops_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
