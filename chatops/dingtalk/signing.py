"""DingTalk request signatures (docs/dingtalk.md §1.3).

DingTalk signs each HTTP-mode callback with headers ``timestamp`` (ms since epoch, decimal) and
``sign`` = base64(HMAC-SHA256(key=appSecret, msg=f"{timestamp}\\n{appSecret}")). A request is
genuine only if the timestamp is within an hour of our clock *and* the sign matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Optional

MAX_SKEW_MS = 3_600_000


class SignatureError(Exception):
    """A callback that must not be trusted. ``reason`` is missing/bad_timestamp/stale/forged."""

    REASONS = ("missing", "bad_timestamp", "stale", "forged")

    def __init__(self, reason: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown signature failure reason {reason!r}")
        super().__init__(reason)
        self.reason = reason


def sign(timestamp: str, secret: str) -> str:
    """The ``sign`` header value DingTalk sends for this timestamp (not URL-encoded)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_request(
    timestamp: Optional[str],
    sign: Optional[str],
    secret: str,
    now_ms: Optional[int] = None,
    max_skew_ms: int = MAX_SKEW_MS,
) -> None:
    """Raise `SignatureError` unless (timestamp, sign) is a fresh, genuine DingTalk signature."""
    if not timestamp or not sign:
        raise SignatureError("missing")
    timestamp = timestamp.strip()
    if not timestamp.isdigit() or not timestamp.isascii():
        raise SignatureError("bad_timestamp")
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if abs(now_ms - int(timestamp)) > max_skew_ms:
        raise SignatureError("stale")
    # The HMAC runs over the header exactly as received, so "0123" and "123" differ.
    expected = _sign_raw(timestamp, secret)
    # Headers are decoded with surrogateescape: bytes that are not UTF-8 must not raise here.
    if not hmac.compare_digest(expected, sign.strip().encode("utf-8", "surrogateescape")):
        raise SignatureError("forged")


def _sign_raw(timestamp: str, secret: str) -> bytes:
    return sign(timestamp, secret).encode("ascii")
