"""Deliver the robot's messages to DingTalk (docs/dingtalk.md §2.2-§2.5).

Route choice per message: the conversation's ``sessionWebhook`` while it is valid (no token
needed, the URL is the credential), otherwise the robot OpenAPI with an app access token
(``groupMessages/send`` for groups, ``oToMessages/batchSend`` for 1:1 chats).

Throttling (errcode 130101, HTTP 429, an OpenAPI throttling code), 5xx and connection errors
are retried with exponential backoff. When retries run out, or DingTalk refuses the message
for good, `DeliveryFailed` is raised: the caller (the outbox) keeps the message, nothing is
dropped silently. The app secret and the access token never appear in logs or exceptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import httpx

from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import to_openapi

logger = logging.getLogger(__name__)

ROUTE_SESSION_WEBHOOK = "session_webhook"
ROUTE_OPENAPI_GROUP = "openapi_group"
ROUTE_OPENAPI_SINGLE = "openapi_single"

ERRCODE_OK = 0
ERRCODE_SESSION_GONE = 300001
ERRCODE_TOO_FAST = 130101

# Where sessionWebhook URLs live (docs/dingtalk.md §1.4, §2.2).
DINGTALK_WEBHOOK_HOSTS = ("oapi.dingtalk.com", "api.dingtalk.com")
# Do not start a webhook call this close to the session's expiry: it may expire in flight.
WEBHOOK_MARGIN_MS = 60_000
# Refresh the access token this long before DingTalk says it expires.
TOKEN_MARGIN_S = 300.0
MAX_BACKOFF_S = 60.0

_THROTTLE_MARKERS = ("qpslimit", "throttl", "toofast", "too fast", "flowcontrol", "130101")
_INVALID_TOKEN_CODES = {
    "invalidauthentication",
    "invalidaccesstoken",
    "invalid.accesstoken",
    "unauthorized",
}

Sleep = Callable[[float], Awaitable[Any]]


class DeliveryFailed(Exception):
    """A message DingTalk did not accept; the caller must keep it for a later retry."""

    def __init__(
        self,
        message: str,
        *,
        route: str = "",
        attempts: int = 0,
        retryable: bool = False,
        throttled: bool = False,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.route = route
        self.attempts = attempts
        self.retryable = retryable or throttled
        # DingTalk said "too fast" (errcode 130101, HTTP 429, a flow-control code): it then
        # refuses the robot in that conversation for a while (docs/dingtalk.md §2.5).
        self.throttled = throttled
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    """How a message reached DingTalk."""

    route: str
    attempts: int
    process_query_key: str = ""


class _Retry(Exception):
    """One attempt failed in a way that may succeed later."""

    def __init__(
        self, reason: str, retry_after: Optional[float] = None, *, throttled: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


class _Fallback(Exception):
    """The session webhook cannot be used any more; try the OpenAPI."""


class _TokenRejected(Exception):
    """The OpenAPI refused the access token (expired or revoked)."""


class DingTalkSender:
    """Send webhook-style messages (see `chatops.dingtalk.messages`) to one robot's chats."""

    def __init__(
        self,
        api_base: str,
        app_key: str,
        app_secret: str,
        robot_code: str,
        *,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        timeout: float = 10.0,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        max_backoff: float = MAX_BACKOFF_S,
        webhook_hosts: Iterable[str] = DINGTALK_WEBHOOK_HOSTS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.api_base = api_base.rstrip("/")
        # A session webhook is only ever posted to DingTalk's own hosts (or the configured
        # OpenAPI base, e.g. the simulator): a message whose metadata names another URL must
        # not make the bot POST there.
        self.webhook_hosts = frozenset({h.lower() for h in webhook_hosts} | {_host(self.api_base)})
        self.app_key = app_key
        self._app_secret = app_secret
        self.robot_code = robot_code
        self._transport = transport
        self._timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock
        self._client: Optional[httpx.AsyncClient] = None
        self._token: Optional[str] = None
        self._token_expires_at = 0.0
        self._token_lock: Optional[asyncio.Lock] = None

    def __repr__(self) -> str:  # never show the secret or the token
        return f"DingTalkSender(api_base={self.api_base!r}, robot_code={self.robot_code!r})"

    async def __aenter__(self) -> "DingTalkSender":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ public

    async def send(self, target: ReplyTarget, message: Dict[str, Any]) -> Delivery:
        """Deliver ``message`` to the conversation of ``target``; raise `DeliveryFailed`."""
        attempts = 0
        if self._webhook_usable(target):
            try:
                used = await self._with_retries(
                    ROUTE_SESSION_WEBHOOK, lambda: self._post_webhook(target, message)
                )
                return Delivery(ROUTE_SESSION_WEBHOOK, used[0])
            except _FallbackAfter as fallback:
                attempts = fallback.attempts
                logger.info(
                    "session webhook of %s unusable (%s); using the OpenAPI",
                    target.conversation_id,
                    fallback.reason,
                )

        route = ROUTE_OPENAPI_GROUP if target.is_group else ROUTE_OPENAPI_SINGLE
        try:
            msg_key, msg_param = to_openapi(message)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), route=route, attempts=attempts) from None
        robot_code = self.robot_code or target.robot_code
        if target.is_group:
            path = "/v1.0/robot/groupMessages/send"
            body: Dict[str, Any] = {
                "robotCode": robot_code,
                "openConversationId": target.conversation_id,
                "msgKey": msg_key,
                "msgParam": msg_param,
            }
        else:
            if not target.user_id:
                raise DeliveryFailed(
                    "1:1 reply target has no user id", route=route, attempts=attempts
                )
            path = "/v1.0/robot/oToMessages/batchSend"
            body = {
                "robotCode": robot_code,
                "userIds": [target.user_id],
                "msgKey": msg_key,
                "msgParam": msg_param,
            }
        used_attempts, key = await self._with_retries(
            route, lambda: self._post_openapi(path, body, target), attempts_before=attempts
        )
        return Delivery(route, used_attempts, key)

    # ------------------------------------------------------------- retry loop

    async def _with_retries(
        self, route: str, attempt: Callable[[], Awaitable[str]], attempts_before: int = 0
    ) -> Tuple[int, str]:
        attempts = attempts_before
        for n in range(1, self.max_attempts + 1):
            attempts += 1
            try:
                return attempts, await attempt()
            except _Fallback as exc:
                raise _FallbackAfter(str(exc), attempts) from None
            except DeliveryFailed as exc:
                exc.route, exc.attempts = route, attempts
                raise
            except _Retry as exc:
                if n == self.max_attempts:
                    raise DeliveryFailed(
                        f"gave up after {attempts} attempts via {route}: {exc.reason}",
                        route=route,
                        attempts=attempts,
                        retryable=True,
                        throttled=exc.throttled,
                        retry_after=exc.retry_after,
                    ) from None
                delay = min(self.backoff_base * (2 ** (n - 1)), self.max_backoff)
                if exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), self.max_backoff)
                logger.warning(
                    "DingTalk %s attempt %d failed (%s); retrying in %.1fs",
                    route,
                    n,
                    exc.reason,
                    delay,
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # --------------------------------------------------------- session webhook

    def _webhook_usable(self, target: ReplyTarget) -> bool:
        if not target.session_webhook:
            return False
        if any(ord(ch) < 33 or ord(ch) == 127 for ch in target.session_webhook):
            return False  # not a URL DingTalk issued (controls, spaces): use the OpenAPI
        if _host(target.session_webhook) not in self.webhook_hosts:
            logger.warning(
                "not posting to a session webhook outside DingTalk (%s); using the OpenAPI",
                _host(target.session_webhook),
            )
            return False
        if not target.session_webhook_expires_ms:
            return True  # unknown expiry: try it, DingTalk answers 300001 when it is gone
        return target.session_webhook_expires_ms - WEBHOOK_MARGIN_MS > self._now_ms()

    async def _post_webhook(self, target: ReplyTarget, message: Dict[str, Any]) -> str:
        if not self._webhook_usable(target):
            raise _Fallback("expired")
        response = await self._request("POST", target.session_webhook, json=message)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(
                f"HTTP {response.status_code}",
                _retry_after(response),
                throttled=response.status_code == 429,
            )
        data = _json(response)
        errcode = data.get("errcode") if isinstance(data, dict) else None
        if response.status_code == 200 and _int(errcode) == ERRCODE_OK and errcode is not None:
            return ""
        if _int(errcode) == ERRCODE_TOO_FAST:
            raise _Retry(f"errcode {errcode} {_short(data.get('errmsg'))}", throttled=True)
        # 300001 (session gone) is the documented case; any other refusal of this temporary
        # URL is also worth one try through the independent OpenAPI route.
        where = _redact_url(target.session_webhook)
        if isinstance(data, dict) and errcode is not None:
            raise _Fallback(f"{where} answered errcode {errcode} {_short(data.get('errmsg'))}")
        raise _Fallback(f"{where} answered HTTP {response.status_code}")

    # ----------------------------------------------------------------- OpenAPI

    async def _post_openapi(self, path: str, body: Dict[str, Any], target: ReplyTarget) -> str:
        for refreshed in (False, True):
            token = await self._access_token(force=refreshed)
            response = await self._request(
                "POST",
                self.api_base + path,
                json=body,
                headers={"x-acs-dingtalk-access-token": token},
            )
            try:
                return self._openapi_result(response, target)
            except _TokenRejected:
                self._token = None
                if refreshed:
                    raise DeliveryFailed(
                        "DingTalk rejected a freshly issued access token"
                    ) from None
                logger.info("DingTalk access token rejected; fetching a new one")
        raise AssertionError("unreachable")  # pragma: no cover

    def _openapi_result(self, response: httpx.Response, target: ReplyTarget) -> str:
        data = _json(response)
        data = data if isinstance(data, dict) else {}
        code = str(data.get("code") or "")
        message = _short(data.get("message") or data.get("errmsg") or "")
        if response.status_code == 401 or code.lower() in _INVALID_TOKEN_CODES:
            raise _TokenRejected()
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(
                f"HTTP {response.status_code} {code} {message}".strip(),
                _retry_after(response),
                throttled=response.status_code == 429,
            )
        if _is_throttled(data):
            raise _Retry(
                f"HTTP {response.status_code} {code or data.get('errcode')} {message}",
                throttled=True,
            )
        if response.status_code >= 400:
            raise DeliveryFailed(
                f"DingTalk refused the message (HTTP {response.status_code}"
                f"{', ' + code if code else ''}): {message or 'no message'}"
            )
        errcode = data.get("errcode")
        if errcode is not None and _int(errcode) != ERRCODE_OK:
            raise DeliveryFailed(f"DingTalk refused the message (errcode {errcode}): {message}")
        if target.user_id and target.user_id in (data.get("invalidStaffIdList") or []):
            raise DeliveryFailed(f"DingTalk says user {target.user_id} cannot be reached")
        if target.user_id and target.user_id in (data.get("flowControlledStaffIdList") or []):
            raise _Retry(f"user {target.user_id} is flow-controlled", throttled=True)
        return str(data.get("processQueryKey") or "")

    async def _access_token(self, force: bool = False) -> str:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if not force and self._token and self._clock() < self._token_expires_at:
                return self._token
            response = await self._request(
                "POST",
                f"{self.api_base}/v1.0/oauth2/accessToken",
                json={"appKey": self.app_key, "appSecret": self._app_secret},
            )
            if response.status_code == 429 or response.status_code >= 500:
                raise _Retry(f"access token: HTTP {response.status_code}", _retry_after(response))
            data = _json(response)
            data = data if isinstance(data, dict) else {}
            token = data.get("accessToken")
            if response.status_code != 200 or not isinstance(token, str) or not token:
                raise DeliveryFailed(
                    f"cannot get a DingTalk access token for app {self.app_key} "
                    f"(HTTP {response.status_code}, {data.get('code') or 'no code'}): "
                    f"{_short(data.get('message') or '')}"
                )
            expire_in = _int(data.get("expireIn")) or 7200
            margin = min(TOKEN_MARGIN_S, expire_in / 2)
            self._token = token
            self._token_expires_at = self._clock() + expire_in - margin
            return token

    # ------------------------------------------------------------------ HTTP

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        if "json" in kwargs:
            # ASCII-escaped JSON: a lone surrogate that reached a message (from Zadig's text)
            # cannot make httpx's strict UTF-8 encoding raise.
            kwargs["content"] = json.dumps(kwargs.pop("json"), ensure_ascii=True).encode("ascii")
            kwargs["headers"] = {
                **(kwargs.get("headers") or {}),
                "Content-Type": "application/json",
            }
        try:
            return await self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            # The exception text may contain the URL; the session part is a credential.
            raise _Retry(f"{type(exc).__name__} talking to {_redact_url(url)}") from None

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


class _FallbackAfter(Exception):
    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


# -------------------------------------------------------------------- helpers


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1 if value is not None else 0


def _is_throttled(data: Mapping[str, Any]) -> bool:
    if _int(data.get("errcode")) == ERRCODE_TOO_FAST:
        return True
    text = f"{data.get('code') or ''} {data.get('message') or ''}".lower()
    return any(marker in text for marker in _THROTTLE_MARKERS)


def _retry_after(response: httpx.Response) -> Optional[float]:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _short(value: Any, limit: int = 200) -> str:
    text = str(value or "")
    return text if len(text) <= limit else text[:limit] + "…"


def _host(url: str) -> str:
    """The host:port of a URL, lower-cased ("" when it has none)."""
    try:
        return (urlsplit(url).netloc or "").lower()
    except ValueError:  # "https://[x": not a URL at all, so not one of DingTalk's hosts
        return ""


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")
