"""Hostile input at the DingTalk webhook (issue 9 item 7): generated requests, real HTTP.

Properties, over well over a thousand generated requests in all:
- without a valid signature (missing, repeated, garbled, stale or forged ``timestamp``/``sign``,
  including sign headers that are not UTF-8; look-alike header names; the signature in the
  query string) the answer is ``401`` with the reason, whatever the body: nothing stored,
  nothing handed to Rasa, nothing sent; another method is Sanic's ``405``, as JSON whatever the
  ``Accept`` header says;
- signed, a body that is not a DingTalk message (random bytes, wrong content types, JSON of
  every other shape, wrong types for every known field, nesting far beyond what json.loads
  reads, bodies over MAX_BODY_BYTES, with and without Content-Length) gets a clear
  ``400``/``413`` and changes nothing; one that has a msgId and a conversationId is
  acknowledged with the documented ``{"msgtype": "empty"}`` (docs/dingtalk.md §2.1) and
  recorded once, under its ids as stored: lone surrogates (JSON ``\\ud800`` escapes) become
  ``?`` and NULs are dropped, so what is stored and handed to Rasa is always valid UTF-8;
- signed, a message whose other fields are hostile (``sessionWebhook`` pointing anywhere or not
  a URL at all, odd types, NaN and infinite times, unicode edge cases) never makes the bot post
  outside DingTalk's own hosts.
In every case: never a 5xx, no ERROR logged, no exception left to the event loop, no call to
Zadig. The tests at the end pin the cases above that are easiest to get wrong, among them a
session webhook on DingTalk's host that is not a URL httpx can send to (a control character),
which falls back to the OpenAPI.
"""

from __future__ import annotations

import base64
import json
import math
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatops.dingtalk.signing import SignatureError, sign
from connectors.dingtalk import MAX_BODY_BYTES, DingTalkInput
from tests.connectors.hostile import (
    ALLOWED_HOSTS,
    CONTENT_TYPES,
    HTTP_METHODS,
    SECRET,
    Deep,
    Harness,
    Outcome,
    Sent,
    accept_values,
    assert_nothing_happened,
    content_types,
    deep_values,
    dumps,
    header_values,
    huge,
    json_scalars,
    json_values,
    nested_text,
    not_allowed,
    random_bodies,
    texts,
    with_content_type,
)
from tests.fakes.dingtalk import GROUP_SEND_PATH, WEBHOOK_PATH

WEBHOOK = "/webhooks/dingtalk/webhook"
WINDOW_MS = 3_600_000  # DINGTALK_SIGNATURE_WINDOW_SECONDS, default
ACK = {"msgtype": "empty"}
DUPLICATE = {"msgtype": "empty", "duplicate": True}
SESSION_WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8"

HYPOTHESIS = dict(
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
UNSIGNED_EXAMPLES = 400
GARBAGE_EXAMPLES = 400
HOSTILE_FIELD_EXAMPLES = 300


def now_ms() -> int:
    return int(time.time() * 1000)


def signature(timestamp: str, secret: str = SECRET) -> bytes:
    return sign(timestamp, secret).encode()


def message(**overrides: Any) -> Dict[str, Any]:
    """docs/dingtalk.md §1.5 as sent now, with a fresh msgId."""
    created = now_ms()
    body: Dict[str, Any] = {
        "conversationId": "cidAsXSBLnA==",
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3"}],
        "chatbotCorpId": "ding9f50b15bxxxx16741",
        "msgId": f"msg{uuid.uuid4().hex}==",
        "senderNick": "张三",
        "isAdmin": True,
        "senderStaffId": "user123",
        "sessionWebhookExpiredTime": created + 5_400_000,
        "createAt": created,
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$Ff09GIxxxxx",
        "conversationTitle": "测试群",
        "isInAtList": True,
        "sessionWebhook": SESSION_WEBHOOK,
        "text": {"content": " 把订单服务发到测试环境"},
        "robotCode": "dingxxxxr3xc0b",
        "msgtype": "text",
    }
    body.update(overrides)
    return body


def stored_text(value: str) -> str:
    """A string field as the channel keeps it: every lone surrogate (a JSON ``\\ud800`` escape,
    which UTF-8 cannot encode) becomes ``?`` and NULs are dropped."""
    return "".join("?" if "\ud800" <= c <= "\udfff" else c for c in value).replace("\x00", "")


def clean(text: str) -> bool:
    """Storable anywhere: encodes as UTF-8 and holds no NUL."""
    return text == stored_text(text)


def usable_id(value: Any) -> bool:
    """What the parser takes as an id: a string that is not empty once stored, or a finite
    number (or a bool) it spells out."""
    if isinstance(value, str):
        return stored_text(value) != ""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


def expected_answer(body: bytes) -> Tuple[int, Optional[Dict[str, Any]], Any]:
    """(status, JSON body or None for "the ack", parsed body) for a correctly signed POST."""

    def malformed(detail: str) -> Tuple[int, Dict[str, Any], Any]:
        return 400, {"error": "malformed message", "detail": detail}, None

    if len(body) > MAX_BODY_BYTES:
        return 413, {"error": "body too large"}, None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return malformed("body is not UTF-8")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested beyond what json reads
        return malformed("body is not JSON")
    if not isinstance(data, dict):
        return malformed("body is not a JSON object")
    if not usable_id(data.get("msgId")):
        return malformed("message has no msgId")
    if not usable_id(data.get("conversationId")):
        return malformed("message has no conversationId")
    return 200, None, data


# --------------------------------------------------------------------- headers: signature

TIMESTAMP_NAMES = [b"timestamp", b"Timestamp", b"TIMESTAMP"]
SIGN_NAMES = [b"sign", b"Sign", b"SIGN"]
LOOKALIKE_NAMES = [
    (b"time-stamp", b"signature"),
    (b"X-Timestamp", b"X-Sign"),
    (b"timestamps", b"signs"),
    (b"ts", b"sig"),
    (b"Date", b"Authorization"),
]


MARGIN_MS = 300_000  # an example runs a moment after it is drawn
FRESH_TIMESTAMPS = st.integers(-(WINDOW_MS - MARGIN_MS), WINDOW_MS - MARGIN_MS).map(
    lambda offset: str(now_ms() + offset)
)
STALE_TIMESTAMPS = st.one_of(
    st.tuples(st.integers(WINDOW_MS + 60_000, 10**13), st.sampled_from([-1, 1])).map(
        lambda o: str(max(0, now_ms() + o[0] * o[1]))
    ),
    st.sampled_from(["0", "1", "9" * 40, "1577262236757"]),
    st.integers(0, 40).map(lambda n: "0" * n + "1577262236757"),
)


def _is_digits(value: bytes) -> bool:
    text = value.decode("utf-8", "surrogateescape").strip()
    return text.isdigit() and text.isascii()


# Values that are not plain ASCII digits (after the strip the check does).
GARBLED_TIMESTAMPS = st.one_of(
    st.sampled_from(
        [
            b"yesterday",
            b"-1",
            b"+1700000000000",
            b"1.7e12",
            b"0x18bcfe56800",
            b"1700000000000ms",
            b"17 00000000000",
            "١٧٠٠٠٠٠٠٠٠٠٠٠".encode(),  # Arabic-Indic digits: isdigit() but not ASCII
            "１７００".encode(),  # fullwidth digits
            b"\xff\xfe",
            b"null",
            b"NaN",
        ]
    ),
    FRESH_TIMESTAMPS.map(lambda t: (t + "a").encode()),
    header_values,
).filter(lambda v: v != b"" and not _is_digits(v))
NONEMPTY_VALUES = header_values.filter(bool)
# Ways to get the sign of a fresh timestamp wrong.
SIGN_MUTATIONS: List[Callable[[str, str], bytes]] = [
    lambda ts, good: signature(ts, "not-the-secret"),
    lambda ts, good: signature(ts, SECRET.upper()),
    lambda ts, good: signature(ts + "0"),
    lambda ts, good: signature(str(int(ts) + 1)),
    lambda ts, good: signature("0" + ts),
    lambda ts, good: good[:-1].encode(),
    lambda ts, good: (good + "=").encode(),
    lambda ts, good: good.lower().encode(),
    # docs/dingtalk.md §1.3: the header is not URL-encoded
    lambda ts, good: quote(good, safe="").encode(),
    lambda ts, good: good.replace("=", "").encode(),
    lambda ts, good: good[::-1].encode(),
    # bytes that are not UTF-8 (Sanic hands them over surrogate-escaped)
    lambda ts, good: good.encode()[:-1] + b"\xff",
    lambda ts, good: b"\xff\xfe" + good.encode(),
]
FORGERIES = st.one_of(
    st.sampled_from(SIGN_MUTATIONS),
    header_values.map(lambda v: lambda ts, good: v),
    st.binary(min_size=32, max_size=32).map(lambda b: lambda ts, good: base64.b64encode(b)),
)


def forge(draw: st.DrawFn, timestamp: str) -> bytes:
    """A sign header that does not match ``timestamp`` and is not empty ("missing")."""
    good = sign(timestamp, SECRET)
    forged = draw(FORGERIES)(timestamp, good)
    return forged if forged and forged.strip() != good.encode() else b"x" + forged


@st.composite
def unsigned_headers(draw: st.DrawFn) -> Tuple[List[Tuple[bytes, bytes]], Optional[str], str]:
    """(header pairs, the reason the channel must give or None for "any", query string).

    No pairing of any timestamp header with any sign header present is a valid signature.
    """
    ts_name = draw(st.sampled_from(TIMESTAMP_NAMES))
    sign_name = draw(st.sampled_from(SIGN_NAMES))
    kind = draw(
        st.sampled_from(
            [
                "none",
                "timestamp-only",
                "sign-only",
                "empty",
                "garbled",
                "stale",
                "forged",
                "repeated",
                "lookalike",
                "query",
            ]
        )
    )
    if kind == "none":
        return [], "missing", ""
    if kind == "timestamp-only":
        return [(ts_name, draw(FRESH_TIMESTAMPS).encode())], "missing", ""
    if kind == "sign-only":
        return [(sign_name, signature(draw(FRESH_TIMESTAMPS)))], "missing", ""
    if kind == "empty":
        ts = draw(FRESH_TIMESTAMPS)
        pairs = draw(
            st.sampled_from(
                [
                    [(ts_name, b""), (sign_name, signature(ts))],
                    [(ts_name, ts.encode()), (sign_name, b"")],
                    [(ts_name, b""), (sign_name, b"")],
                ]
            )
        )
        return pairs, "missing", ""
    if kind == "garbled":
        ts = draw(GARBLED_TIMESTAMPS)
        any_sign = (
            signature(ts.decode("utf-8", "replace"))
            if draw(st.booleans())
            else draw(NONEMPTY_VALUES)
        )
        return [(ts_name, ts), (sign_name, any_sign)], "bad_timestamp", ""
    if kind == "stale":
        ts = draw(STALE_TIMESTAMPS)
        stale_sign = signature(ts) if draw(st.booleans()) else forge(draw, ts)
        return [(ts_name, ts.encode()), (sign_name, stale_sign)], "stale", ""
    if kind == "forged":
        ts = draw(FRESH_TIMESTAMPS)
        return [(ts_name, ts.encode()), (sign_name, forge(draw, ts))], "forged", ""
    if kind == "repeated":
        # Two of each, in any order; every sign is made with a wrong secret or is noise, so
        # whichever copy the server reads, the pair is invalid.
        timestamps = draw(
            st.lists(
                st.one_of(FRESH_TIMESTAMPS.map(str.encode), STALE_TIMESTAMPS.map(str.encode)),
                min_size=1,
                max_size=3,
            )
        )
        signs = [signature(t.decode(), "wrong-secret") for t in timestamps]
        signs += draw(st.lists(header_values, max_size=2))
        pairs = [(draw(st.sampled_from(TIMESTAMP_NAMES)), t) for t in timestamps]
        pairs += [(draw(st.sampled_from(SIGN_NAMES)), s) for s in signs]
        return draw(st.permutations(pairs)), None, ""
    if kind == "lookalike":
        ts = draw(FRESH_TIMESTAMPS)
        lookalike_ts, lookalike_sign = draw(st.sampled_from(LOOKALIKE_NAMES))
        return [(lookalike_ts, ts.encode()), (lookalike_sign, signature(ts))], "missing", ""
    ts = draw(FRESH_TIMESTAMPS)
    return [], "missing", f"timestamp={ts}&sign={quote(sign(ts, SECRET), safe='')}"


def extra_headers() -> st.SearchStrategy[List[Tuple[bytes, bytes]]]:
    names = st.sampled_from([b"X-Forwarded-For", b"X-Real-IP", b"User-Agent", b"X-Junk", b"Cookie"])
    return st.lists(
        st.one_of(st.tuples(names, header_values), st.tuples(st.just(b"Accept"), accept_values)),
        max_size=3,
    )


@st.composite
def unsigned_requests(draw: st.DrawFn) -> Tuple[Sent, Optional[str]]:
    pairs, reason, query = draw(unsigned_headers())
    body, chunked = draw(
        st.one_of(
            st.tuples(st.builds(lambda: dumps(message())), st.booleans()),
            st.tuples(random_bodies, st.booleans()),
            huge(MAX_BODY_BYTES),
        )
    )
    headers = with_content_type(pairs + draw(extra_headers()), draw(content_types))
    method = draw(st.sampled_from(HTTP_METHODS))
    return Sent(headers, body, method=method, chunked=chunked, query=query), reason


# ------------------------------------------------------------------------ signed requests


@st.composite
def signed_headers(draw: st.DrawFn) -> List[Tuple[bytes, bytes]]:
    ts = draw(FRESH_TIMESTAMPS)
    pairs = [
        (draw(st.sampled_from(TIMESTAMP_NAMES)), ts.encode()),
        (draw(st.sampled_from(SIGN_NAMES)), signature(ts)),
    ]
    if draw(st.booleans()):
        pairs = pairs[::-1]
    if draw(st.integers(0, 9)) == 0:
        pairs = pairs + pairs  # the same valid pair twice
    return pairs


def wrong_types() -> st.SearchStrategy[Any]:
    """Every JSON type, and the values that trip up converters."""
    return st.one_of(
        json_values,
        deep_values,
        st.sampled_from(
            [None, "", " ", 0, -1, 2**64, 1e308, -0.0, True, False, [], {}, [None], {"": ""}]
        ),
    )


KNOWN_FIELDS = [
    "msgId",
    "conversationId",
    "msgtype",
    "text",
    "content",
    "conversationType",
    "conversationTitle",
    "senderStaffId",
    "senderId",
    "senderNick",
    "sessionWebhook",
    "sessionWebhookExpiredTime",
    "robotCode",
    "createAt",
    "isAdmin",
    "senderCorpId",
    "chatbotCorpId",
    "atUsers",
    "isInAtList",
]


@st.composite
def garbage_bodies(draw: st.DrawFn) -> Tuple[bytes, bool]:
    kind = draw(st.sampled_from(["random", "random", "fields", "fields", "huge", "edge"]))
    chunked = draw(st.booleans())
    if kind == "random":
        return draw(random_bodies), chunked
    if kind == "huge":
        return draw(huge(MAX_BODY_BYTES))
    if kind == "edge":
        # A real message padded to exactly the limit, and one byte over it.
        body = dumps(message(pad=""))
        padded = body[:-2] + b"x" * (MAX_BODY_BYTES - len(body)) + body[-2:]
        return draw(st.sampled_from([padded, padded + b" "])), chunked
    fields = draw(
        st.dictionaries(st.sampled_from(KNOWN_FIELDS), wrong_types(), min_size=1, max_size=6)
    )
    if draw(st.booleans()):
        fields = {**message(), **fields}
    return dumps(fields), chunked


@st.composite
def signed_garbage(draw: st.DrawFn) -> Sent:
    body, chunked = draw(garbage_bodies())
    headers = with_content_type(draw(signed_headers()) + draw(extra_headers()), draw(content_types))
    return Sent(headers, body, chunked=chunked)


HOSTILE_URLS = [
    "https://evil.example/robot/sendBySession?session=1",
    "http://127.0.0.1:5005/webhooks/rest/webhook",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost/",
    "http://[::1]:5055/webhook",
    "http://0x7f000001/",
    "https://oapi.dingtalk.com@evil.example/robot/sendBySession",
    "https://oapi.dingtalk.com.evil.example/robot/sendBySession",
    "https://oapi.dingtalk.com:8443/robot/sendBySession",
    "https://oapi.dingtalk.com./robot/sendBySession",
    "https://evil.example#@oapi.dingtalk.com/",
    "https://evil.example\\@oapi.dingtalk.com/",
    "https://evil.example?@oapi.dingtalk.com/",
    "https://evil.example%2F@oapi.dingtalk.com/",
    "https://oapi.dingtalk.com\t.evil.example/",
    "https://oapi.dingtalk.com\n@evil.example/",
    "https://ｏａｐｉ.dingtalk.com/robot/sendBySession",
    "https://OAPI.DINGTALK.COM/robot/sendBySession?session=x",
    "http://oapi.dingtalk.com/robot/sendBySession?session=x",
    "ftp://oapi.dingtalk.com/robot/sendBySession",
    "file:///etc/passwd",
    "gopher://evil.example:25/_HELO",
    "//evil.example/robot/sendBySession",
    "evil.example/robot/sendBySession",
    "javascript:alert(1)",
    # not URLs at all: urlsplit refuses them
    "https://[oapi.dingtalk.com/robot/sendBySession?session=1",
    "https://oapi.dingtalk.com]/robot/sendBySession",
    "http://[::1/",
    "https://[evil.example]/",
    "",
    SESSION_WEBHOOK,
    "https://api.dingtalk.com/v1.0/robot/groupMessages/send",
]


def hostile_urls() -> st.SearchStrategy[Any]:
    hosts = st.one_of(
        st.sampled_from(["evil.example", "10.0.0.1", "metadata.google.internal", "dingtalk.test"]),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
    )
    return st.one_of(
        st.sampled_from(HOSTILE_URLS),
        st.builds(lambda h, p: f"https://{h}/{p}", hosts, st.text(max_size=20)),
        wrong_types(),
    )


HOSTILE_FIELDS: Dict[str, st.SearchStrategy[Any]] = {
    "sessionWebhook": hostile_urls(),
    # A msgId of its own every time, with a hostile tail.
    "msgId": st.builds(lambda tail: f"msg{uuid.uuid4().hex}{tail}", texts),
    "sessionWebhookExpiredTime": st.one_of(
        st.integers(), st.floats(), st.sampled_from([math.inf, -math.inf, math.nan]), wrong_types()
    ),
    "msgtype": st.one_of(
        st.sampled_from(
            ["text", "audio", "picture", "richText", "file", "video", "unknownMsgType"]
            + ["TEXT", " text", "markdown", "empty", ""]
        ),
        wrong_types(),
    ),
    "text": st.one_of(st.fixed_dictionaries({"content": st.one_of(texts, wrong_types())})),
    "content": st.one_of(
        st.fixed_dictionaries({"recognition": st.one_of(texts, wrong_types())}), wrong_types()
    ),
    "conversationId": st.one_of(texts.filter(bool), st.integers(), st.text(min_size=200)),
    "conversationType": st.one_of(st.sampled_from(["1", "2", 1, 2, "3"]), wrong_types()),
    "senderStaffId": st.one_of(texts, wrong_types(), st.just("$:LWCP_v1:$x")),
    "senderId": json_scalars,
    "senderNick": json_scalars,
    "conversationTitle": json_scalars,
    "robotCode": json_scalars,
    "createAt": st.one_of(
        st.integers(), st.floats(), st.sampled_from([math.inf, -math.inf, math.nan])
    ),
    "isAdmin": wrong_types(),
    "atUsers": wrong_types(),
    "senderCorpId": json_scalars,
    "chatbotCorpId": json_scalars,
}


@st.composite
def hostile_messages(draw: st.DrawFn) -> Sent:
    names = draw(st.lists(st.sampled_from(sorted(HOSTILE_FIELDS)), min_size=1, max_size=8))
    overrides = {name: draw(HOSTILE_FIELDS[name]) for name in names}
    if draw(st.booleans()):
        overrides["sessionWebhook"] = draw(st.sampled_from(HOSTILE_URLS))
    overrides.update(draw(st.dictionaries(texts, json_values, max_size=2)))
    body = message(**overrides)
    headers = with_content_type(draw(signed_headers()), draw(st.sampled_from(CONTENT_TYPES)))
    return Sent(headers, dumps(body), chunked=draw(st.booleans()))


# --------------------------------------------------------------------------------- tests


@pytest.fixture
def harness(tmp_path: Path):
    with Harness(tmp_path, lambda runtime: DingTalkInput(runtime=runtime), WEBHOOK) as harness:
        yield harness


def test_requests_without_a_valid_signature_are_refused(harness: Harness):
    @settings(max_examples=UNSIGNED_EXAMPLES, **HYPOTHESIS)
    @given(request=unsigned_requests())
    def example(request: Tuple[Sent, Optional[str]]) -> None:
        sent, reason = request

        outcome = harness.send(sent)

        assert_nothing_happened(outcome)
        if sent.method != "POST":
            assert (outcome.status, outcome.json()) == (405, not_allowed(sent.method, WEBHOOK))
            return
        assert outcome.status == 401
        answer = outcome.json()
        assert answer["error"] == "invalid signature"
        if reason is None:
            assert answer["reason"] in SignatureError.REASONS
        else:
            assert answer == {"error": "invalid signature", "reason": reason}

    example()

    assert harness.examples >= UNSIGNED_EXAMPLES
    # Both the channel's refusal and Sanic's (another method) were exercised.
    assert harness.statuses[401] >= UNSIGNED_EXAMPLES // 2
    assert harness.statuses[405] >= UNSIGNED_EXAMPLES // 20
    assert harness.dingtalk.requests == []
    assert harness.runtime.outbox.counts() == {}


def check_signed(harness: Harness, outcome: Outcome, sent: Sent) -> None:
    """The answer `expected_answer` predicts; a refusal changes nothing, a message is recorded
    once and reaches Rasa at most once."""
    status, answer, data = expected_answer(sent.body)
    assert outcome.status < 500
    assert outcome.errors == []
    assert outcome.zadig_requests == []
    assert outcome.status == status
    if status != 200:
        assert outcome.json() == answer
        assert outcome.stored == {}
        assert outcome.agent_messages == []
        return
    assert outcome.json() in (ACK, DUPLICATE)
    if outcome.json() == DUPLICATE:
        assert outcome.stored == {}
        assert outcome.agent_messages == []
        return
    # One msgId row, at most one reply queued so far, at most one turn for Rasa.
    assert outcome.stored.get("inbound") == 1
    assert outcome.stored.keys() <= {"inbound", "outbox"}
    assert outcome.stored.get("outbox", 1) == 1
    assert len(outcome.agent_messages) <= 1
    if isinstance(data["msgId"], str):
        row = harness.runtime.inbound.get(stored_text(data["msgId"]))
        assert row is not None
        if isinstance(data["conversationId"], str):
            assert row.conversation_id == stored_text(data["conversationId"])
    for message in outcome.agent_messages:
        assert message.text and message.text == message.text.strip()
        # Nothing Rasa's tracker store could not keep.
        assert clean(message.text) and clean(message.sender_id)
        assert clean(json.dumps(message.metadata, ensure_ascii=False))


def test_signed_garbage_gets_a_clear_answer_and_changes_nothing(harness: Harness):
    @settings(max_examples=GARBAGE_EXAMPLES, **HYPOTHESIS)
    @given(sent=signed_garbage())
    def example(sent: Sent) -> None:

        outcome = harness.send(sent)

        check_signed(harness, outcome, sent)

    example()

    assert harness.examples >= GARBAGE_EXAMPLES
    # Every kind of answer was exercised: refused, too large, acknowledged.
    assert harness.statuses[400] >= GARBAGE_EXAMPLES // 10
    assert harness.statuses[413] >= GARBAGE_EXAMPLES // 20
    assert harness.statuses[200] >= GARBAGE_EXAMPLES // 20
    harness.drain_outbox()
    assert set(harness.outbound_hosts()) <= ALLOWED_HOSTS
    assert harness.crashes() == []


def test_hostile_fields_never_make_the_bot_post_outside_dingtalk(harness: Harness):
    @settings(max_examples=HOSTILE_FIELD_EXAMPLES, **HYPOTHESIS)
    @given(sent=hostile_messages())
    def example(sent: Sent) -> None:

        outcome = harness.send(sent)

        check_signed(harness, outcome, sent)
        assert set(harness.outbound_hosts()) <= ALLOWED_HOSTS

    example()

    assert harness.examples >= HOSTILE_FIELD_EXAMPLES
    # Mostly messages that were accepted (a field nested beyond what json reads makes the rest
    # "not JSON").
    assert harness.statuses[200] >= HOSTILE_FIELD_EXAMPLES // 2
    harness.drain_outbox()
    hosts = harness.outbound_hosts()
    assert hosts, "no reply was sent at all: the property was not exercised"
    assert set(hosts) <= ALLOWED_HOSTS
    assert harness.crashes() == []


# ------------------------------------------------------------------------- single cases
# One harness per test (starting one is most of a small test's time): each loops over its cases.


def signed_pairs() -> List[Tuple[bytes, bytes]]:
    ts = str(now_ms())
    return [(b"timestamp", ts.encode()), (b"sign", signature(ts))]


def test_a_sign_header_that_is_not_utf8_is_refused_as_forged(harness: Harness):
    ts = str(now_ms())
    for forged in (b"\xff\xfe", b"\x80", "签名".encode("gbk"), signature(ts) + b"\xff"):
        outcome = harness.send(Sent(((b"timestamp", ts.encode()), (b"sign", forged)), b"{}"))

        assert outcome.status == 401, forged
        assert outcome.json() == {"error": "invalid signature", "reason": "forged"}
        assert_nothing_happened(outcome)
    assert harness.crashes() == []


def test_deeply_nested_json_is_refused(harness: Harness):
    for kind in ("list", "object"):
        for body in (nested_text(5000, kind), dumps(message(text=Deep(5000, kind)))):
            outcome = harness.send(Sent(tuple(signed_pairs()), body))

            assert outcome.status == 400, (kind, body[:40])
            assert outcome.json() == {"error": "malformed message", "detail": "body is not JSON"}
            assert_nothing_happened(outcome)
    assert harness.crashes() == []


LONE_SURROGATES_AND_NULS = [
    ("msgId", "msg\ud800", "msg?"),
    ("msgId", "msg\x00id\udc00", "msgid?"),
    ("conversationId", "cid\udfff", "cid?"),
    ("text", {"content": "把订单服务\ud83d发到测试环境\x00"}, "把订单服务?发到测试环境"),
    ("senderStaffId", "user\ud800", "user?"),
    ("sessionWebhook", SESSION_WEBHOOK + "\ud800", SESSION_WEBHOOK + "?"),
    ("robotCode", "\udc00", "?"),
]


def test_lone_surrogates_and_nuls_are_stored_replaced(harness: Harness):
    for field, value, stored in LONE_SURROGATES_AND_NULS:
        body = message(**{field: value})
        sent_before = len(harness.dingtalk.requests)

        outcome = harness.send(Sent(tuple(signed_pairs()), dumps(body)))
        harness.drain_outbox()

        assert (outcome.status, outcome.json()) == (200, ACK), field
        assert outcome.errors == []
        msg_id = stored if field == "msgId" else body["msgId"]
        row = harness.runtime.inbound.get(msg_id)
        assert row is not None
        [turn] = outcome.agent_messages
        assert turn.message_id == msg_id
        context = turn.metadata["dingtalk"]
        if field == "conversationId":
            assert row.conversation_id == stored == context["conversation_id"]
        if field == "text":
            assert row.text == stored == turn.text
        if field == "senderStaffId":
            assert context["staff_id"] == stored == context["user_id"]
        if field == "sessionWebhook":
            assert context["target"]["session_webhook"] == stored
        if field == "robotCode":
            assert context["target"]["robot_code"] == stored
        assert clean(json.dumps(turn.metadata, ensure_ascii=False))
        # The reply ("好的") went out, to DingTalk.
        assert len(harness.dingtalk.requests) > sent_before, field
    assert set(harness.outbound_hosts()) <= ALLOWED_HOSTS
    assert harness.runtime.outbox.counts() == {"sent": len(LONE_SURROGATES_AND_NULS)}
    assert harness.crashes() == []


NON_FINITE_TIMES = [
    ("createAt", "Infinity"),
    ("createAt", "-Infinity"),
    ("createAt", "1e400"),
    ("createAt", "NaN"),
    ("sessionWebhookExpiredTime", "NaN"),
    ("sessionWebhookExpiredTime", "Infinity"),
    ("sessionWebhookExpiredTime", "-1e400"),
]


def test_non_finite_times_count_as_unknown(harness: Harness):
    for field, raw in NON_FINITE_TIMES:
        body = dumps(message(**{field: 0})).replace(
            f'"{field}": 0'.encode(), f'"{field}": {raw}'.encode()
        )
        assert f'"{field}": {raw}'.encode() in body
        webhook_posts = len(harness.dingtalk.calls(WEBHOOK_PATH))

        outcome = harness.send(Sent(tuple(signed_pairs()), body))
        harness.drain_outbox()

        assert (outcome.status, outcome.json()) == (200, ACK), (field, raw)
        assert outcome.errors == []
        [turn] = outcome.agent_messages
        if field == "sessionWebhookExpiredTime":
            # An unknown expiry, as when the field is missing.
            assert turn.metadata["dingtalk"]["target"]["session_webhook_expires_ms"] == 0
        # The reply goes to the session webhook, as for any message.
        assert len(harness.dingtalk.calls(WEBHOOK_PATH)) == webhook_posts + 1
    assert harness.crashes() == []


def test_a_malformed_accept_header_on_a_wrong_method_is_a_plain_405(harness: Harness):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        for accept in (b"0", b"text/html;q=abc", b"x/y;level", b"application/json;q=2"):
            outcome = harness.send(Sent(((b"Accept", accept),), b"", method=method))

            assert outcome.status == 405, (method, accept)
            assert outcome.json() == not_allowed(method, WEBHOOK)
            assert_nothing_happened(outcome)
    assert harness.crashes() == []


def test_a_session_webhook_that_is_not_a_url_still_gets_the_reply(harness: Harness):
    webhooks = [
        "https://[oapi.dingtalk.com/robot/sendBySession?session=1",
        "https://oapi.dingtalk.com]/robot/sendBySession",
    ]
    for webhook in webhooks:
        outcome = harness.send(Sent(tuple(signed_pairs()), dumps(message(sessionWebhook=webhook))))

        assert outcome.json() == ACK
    harness.drain_outbox()

    assert harness.dingtalk.calls(WEBHOOK_PATH) == []
    assert len(harness.dingtalk.calls(GROUP_SEND_PATH)) == len(webhooks)
    assert harness.crashes() == []


def test_a_session_webhook_with_a_control_character_still_gets_the_reply(harness: Harness):
    body = message(sessionWebhook=SESSION_WEBHOOK + "\x01")

    outcome = harness.send(Sent(tuple(signed_pairs()), dumps(body)))
    harness.drain_outbox()

    assert outcome.json() == ACK
    assert harness.runtime.outbox.counts() == {"sent": 1}
    assert len(harness.dingtalk.calls(GROUP_SEND_PATH)) == 1
    assert harness.crashes() == []
