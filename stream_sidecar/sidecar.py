"""DingTalk Stream mode -> the bot's HTTP channel: a sidecar in its own venv.

Stream mode needs no public IP: the official ``dingtalk-stream`` SDK keeps an outbound
WebSocket to DingTalk's gateway. The SDK cannot live in the Rasa venv (it needs websockets>=11
and aiohttp>=3.10, Rasa 3.6 pins both lower), so this process runs it in ``.venv-stream``
(``scripts/bootstrap.sh stream``) and turns every bot message pushed on
``/v1.0/im/bot/messages/get`` into the HTTP-mode callback DingTalk would have sent: the same
JSON body, signed with headers ``timestamp``/``sign``, POSTed to the channel over loopback.
So both modes share one code path (``connectors/dingtalk.py``). Replies do not pass through
here: the bot posts to the message's ``sessionWebhook`` itself.

ACK to the gateway: 200 once the bot accepted the callback; 400 if the bot rejected it (bad
signature = the two processes disagree on the secret, or a body it cannot parse); 500 if the
bot could not be reached after a few quick retries. DingTalk never re-pushes bot messages
whatever the code (docs/dingtalk.md §4.2), so a message that got 500 is lost, and the log says so.
Retries are safe: the channel de-duplicates on ``msgId``.

Environment:
  DINGTALK_APP_KEY, DINGTALK_APP_SECRET   required (the app's Client ID / Client Secret)
  BOT_WEBHOOK_URL            default http://127.0.0.1:5005/webhooks/dingtalk/webhook
  DINGTALK_OPENAPI_ENDPOINT  default https://api.dingtalk.com; read by the SDK itself when it
                             is imported, so it must be in the environment before this process
                             starts (tests point it at the ``simulators.dingtalk`` package).

Run: ``.venv-stream/bin/python stream_sidecar/sidecar.py`` (runs until SIGINT/SIGTERM).

Standalone on purpose: it must not import rasa or chatops, which live in the other venv.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Set, Tuple
from urllib.parse import quote_plus, urlsplit

import dingtalk_stream
import httpx
import websockets
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, ChatbotMessage

logger = logging.getLogger("stream_sidecar")

DEFAULT_BOT_WEBHOOK_URL = "http://127.0.0.1:5005/webhooks/dingtalk/webhook"
FORWARD_ATTEMPTS = 3
RETRY_DELAYS_S = (0.5, 1.0)  # between the attempts above
FORWARD_TIMEOUT_S = 10.0  # the channel answers at once; the dialogue runs after
OPEN_CONNECTION_TIMEOUT_S = 30.0  # the SDK's requests.post has no timeout of its own
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0
STABLE_CONNECTION_S = 10.0  # a connection that lived this long reconnects at once


class ConfigError(Exception):
    """The environment does not describe a usable sidecar."""


@dataclass(frozen=True)
class Config:
    app_key: str
    app_secret: str
    bot_url: str
    openapi_endpoint: str

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Config":
        env = os.environ if env is None else env
        missing = [
            name
            for name in ("DINGTALK_APP_KEY", "DINGTALK_APP_SECRET")
            if not (env.get(name) or "").strip()
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} must be set: the DingTalk app's Client ID (AppKey) and "
                "Client Secret (AppSecret), the same values the bot uses"
            )
        bot_url = (env.get("BOT_WEBHOOK_URL") or DEFAULT_BOT_WEBHOOK_URL).strip()
        parts = urlsplit(bot_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"BOT_WEBHOOK_URL must be an http(s) URL, got {bot_url!r}")
        return cls(
            app_key=env["DINGTALK_APP_KEY"].strip(),
            app_secret=env["DINGTALK_APP_SECRET"].strip(),
            bot_url=bot_url,
            openapi_endpoint=dingtalk_stream.utils.DINGTALK_OPENAPI_ENDPOINT,
        )


def sign(timestamp: str, secret: str) -> str:
    """DingTalk's callback signature. Duplicate of chatops/dingtalk/signing.py:sign (this process
    cannot import chatops); keep the two identical."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, now_ms: Optional[int] = None) -> dict:
    timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "timestamp": timestamp,
        "sign": sign(timestamp, secret),
    }


class Forwarder:
    """POSTs one callback body to the bot, signed, with a few quick retries."""

    def __init__(self, config: Config, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def forward(self, body: Any) -> Tuple[int, str]:
        """The ACK (code, message) for this body after handing it to the bot."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        msg_id = body.get("msgId") if isinstance(body, dict) else None
        problem = ""
        for attempt in range(1, FORWARD_ATTEMPTS + 1):
            try:
                # Signed per attempt: the timestamp is "now", as DingTalk's would be.
                response = await self.http.post(
                    self.config.bot_url,
                    content=payload,
                    headers=signed_headers(self.config.app_secret),
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 300:
                    logger.info(
                        "message %s handed to the bot (HTTP %s)", msg_id, response.status_code
                    )
                    return AckMessage.STATUS_OK, "OK"
                if response.status_code < 500:
                    hint = (
                        " -- DINGTALK_APP_SECRET differs from the bot's"
                        if response.status_code == 401
                        else ""
                    )
                    logger.error(
                        "the bot rejected message %s: HTTP %s %s%s",
                        msg_id,
                        response.status_code,
                        response.text[:200],
                        hint,
                    )
                    return (
                        AckMessage.STATUS_BAD_REQUEST,
                        f"bot answered HTTP {response.status_code}",
                    )
                problem = f"HTTP {response.status_code}"
            if attempt < FORWARD_ATTEMPTS:
                logger.warning(
                    "bot at %s not reachable for message %s (%s); retry %d/%d",
                    self.config.bot_url,
                    msg_id,
                    problem,
                    attempt,
                    FORWARD_ATTEMPTS - 1,
                )
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S)) - 1])
        logger.error(
            "message %s lost: the bot at %s could not be reached (%s); DingTalk does not "
            "re-push bot messages",
            msg_id,
            self.config.bot_url,
            problem,
        )
        return AckMessage.STATUS_SYSTEM_EXCEPTION, "bot unreachable"


class ForwardToBot(CallbackHandler):
    """Handler for ``/v1.0/im/bot/messages/get``: forward, then ACK with the outcome."""

    def __init__(self, forwarder: Forwarder) -> None:
        super().__init__()
        self.forwarder = forwarder

    async def process(self, callback: CallbackMessage) -> Tuple[int, str]:
        try:
            return await self.forwarder.forward(callback.data)
        except Exception:  # an ACK must go out whatever happens
            logger.exception("forwarding Stream message %s failed", callback.headers.message_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "sidecar error"


class _QuietPings(logging.Filter):
    # SDK 0.24.3 warns "unknown message topic, topic=ping" (with the whole frame) on every
    # gateway ping it ACKs correctly.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith("unknown message topic")
            and isinstance(record.args, tuple)
            and record.args[:1] == ("ping",)
        )


class SidecarStreamClient(dingtalk_stream.DingTalkStreamClient):
    """The SDK client with a connect loop that can be stopped and backs off.

    SDK 0.24.3's ``start()`` swallows ``CancelledError`` (so SIGTERM/Ctrl-C cannot stop it
    cleanly), sleeps a fixed 10 s after every network error, and calls the blocking
    ``open_connection`` on the event loop without a timeout. Frame routing, ACKs and the
    connection request itself stay the SDK's.
    """

    def __init__(
        self, credential: dingtalk_stream.Credential, sdk_logger: Optional[logging.Logger] = None
    ) -> None:
        super().__init__(credential, logger=sdk_logger)
        self._tasks: Set["asyncio.Task[Any]"] = set()

    async def start(self) -> None:
        self.pre_start()
        delay = BACKOFF_MIN_S
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection = await asyncio.wait_for(
                    loop.run_in_executor(None, self.open_connection), OPEN_CONNECTION_TIMEOUT_S
                )
            except asyncio.TimeoutError:
                logger.error(
                    "opening a Stream connection timed out after %.0fs", OPEN_CONNECTION_TIMEOUT_S
                )
                connection = None
            if not connection or "endpoint" not in connection or "ticket" not in connection:
                # The SDK logged the reason (wrong AppKey/Secret, network ...).
                delay = await self._backoff(delay, "no Stream connection")
                continue
            uri = f"{connection['endpoint']}?ticket={quote_plus(connection['ticket'])}"
            opened = time.monotonic()
            try:
                async with websockets.connect(uri) as websocket:
                    self.websocket = websocket
                    logger.info(
                        "connected to the DingTalk Stream gateway %s", connection["endpoint"]
                    )
                    keepalive = asyncio.ensure_future(self.keepalive(websocket))
                    try:
                        async for raw in websocket:
                            self._spawn(raw)
                    finally:
                        keepalive.cancel()
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
                if isinstance(exc, websockets.exceptions.ConnectionClosed):
                    logger.warning("Stream connection dropped: %s", exc)
                else:
                    logger.warning("Stream connection failed: %s", exc)
            except Exception:  # the sidecar must outlive anything one connection throws
                logger.exception("Stream connection failed unexpectedly")
            else:
                logger.info("Stream connection closed; reconnecting")
            if time.monotonic() - opened >= STABLE_CONNECTION_S:
                delay = BACKOFF_MIN_S
                continue
            delay = await self._backoff(delay, "Stream connection was short-lived")

    def _spawn(self, raw: Any) -> None:
        try:
            frame = json.loads(raw)
        except (TypeError, ValueError):
            logger.warning("ignored a non-JSON frame from the gateway")
            return
        task = asyncio.ensure_future(self.background_task(frame))
        self._tasks.add(task)  # keep a reference until done, or the task may be collected
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _backoff(delay: float, why: str) -> float:
        wait = delay * random.uniform(0.8, 1.2)
        logger.info("%s; retrying in %.1fs", why, wait)
        await asyncio.sleep(wait)
        return min(delay * 2, BACKOFF_MAX_S)


async def run(config: Config) -> None:
    """Connect, forward, reconnect; until cancelled."""
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    except (NotImplementedError, RuntimeError):  # not on Windows / not the main thread
        pass
    sdk_logger = logging.getLogger("dingtalk_stream.client")
    sdk_logger.addFilter(_QuietPings())
    # trust_env=False: the bot is on loopback; an HTTP(S)_PROXY meant for DingTalk must not
    # capture it.
    async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, trust_env=False) as http:
        client = SidecarStreamClient(
            dingtalk_stream.Credential(config.app_key, config.app_secret), sdk_logger
        )
        client.register_callback_handler(
            ChatbotMessage.TOPIC, ForwardToBot(Forwarder(config, http))
        )
        logger.info(
            "stream sidecar: app %s, gateway %s, forwarding to %s",
            config.app_key,
            config.openapi_endpoint,
            config.bot_url,
        )
        await client.start()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"stream sidecar: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(config))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    logger.info("stream sidecar stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
