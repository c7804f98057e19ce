"""Hostile input at Zadig's workflow webhook (issue 9 item 7): generated requests, real HTTP.

The channel authenticates with the shared ``X-Zadig-Token`` only (docs/zadig-openapi.md §6.2).
Properties, over well over a thousand generated requests in all:
- without the right token (missing, empty, near misses, bytes that are not UTF-8, repeated,
  under another header name, in the query string, Zadig's API token instead of the hook's) the
  answer is ``401`` whatever the body, and the follow-up the bot owes stays pending; another
  method is Sanic's ``405``, as JSON whatever the ``Accept`` header says;
- with the right token, a body that is not a notification (random bytes, other JSON shapes,
  wrong types, an ``event`` that is a list or an object, nesting far beyond what json.loads
  reads, over MAX_BODY_BYTES with and without Content-Length, any content type and event
  header) gets ``400``/``413`` or the documented ``200`` "ignored"/"success", and changes
  nothing;
- with the right token, a notification for a task the bot does not follow changes nothing:
  task ids that are not 1 to 18 ASCII digits (negative, huge, other scripts' digits, floats,
  strings, lists) never name a task, nor do workflow names outside the catalog or with lone
  surrogates; unknown statuses;
- a notification for a followed task whose other fields are garbage (NaN and infinite times,
  lone surrogates wherever the result message does not quote them, failed jobs named ``.`` or
  ``..``) still ends the follow-up once when its status is terminal, and only then.
In every case: never a 5xx, no ERROR logged, no exception left to the event loop, nothing
handed to Rasa, and no request to Zadig except, for a followed task that failed, the read of
that task's failed job's log (never a trigger, never a cancel, never another path); replies
only to DingTalk. The tests at the end pin the cases above that are easiest to get wrong, among
them a lone surrogate where the result message of an ended task quotes it (posted as
ASCII-escaped JSON) and one in a failed job's name (the result is not stopped).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chatops.dingtalk.inbound import ReplyTarget
from connectors.zadig import ACCEPTED_EVENTS, MAX_BODY_BYTES, ZadigWebhookInput
from tests.connectors.hostile import (
    HOOK_TOKEN,
    HTTP_METHODS,
    ZADIG_TOKEN,
    Deep,
    Harness,
    Sent,
    accept_values,
    assert_nothing_happened,
    content_types,
    deep_values,
    dumps,
    header_values,
    huge,
    json_values,
    nested_text,
    not_allowed,
    random_bodies,
    texts,
    with_content_type,
)

WEBHOOK = "/webhooks/zadig/webhook"
FOLLOWED = ("mall-test", 42)  # the follow-up the bot owes in every test
TERMINAL = ("passed", "failed", "timeout", "cancelled", "reject")
SESSION_WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8"
# What the channel takes as a task id (str() of workflow.task_id): what the store can hold.
TASK_ID = re.compile(r"[0-9]{1,18}")

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
WRONG_TOKEN_EXAMPLES = 350
GARBAGE_EXAMPLES = 350
UNFOLLOWED_EXAMPLES = 300
FOLLOWED_EXAMPLES = 120


def notification(event: Any = "workflow", **workflow: Any) -> Dict[str, Any]:
    """docs/zadig-openapi.md §6.2's body (HEAD), for the followed task unless overridden."""
    body: Dict[str, Any] = {
        "task_id": FOLLOWED[1],
        "project_name": "mall",
        "project_display_name": "商城",
        "workflow_name": FOLLOWED[0],
        "workflow_display_name": FOLLOWED[0],
        "status": "passed",
        "remark": "",
        "detail_url": "https://zadig.example.com/v1/projects/detail/mall/pipelines/custom/"
        "mall-test?display_name=mall-test",
        "error": "",
        "create_time": 1724300000,
        "start_time": 1724300001,
        "end_time": 1724300200,
        "stages": [
            {
                "name": "deploy",
                "status": "passed",
                "start_time": 1724300100,
                "end_time": 1724300200,
                "error": "",
                "jobs": [
                    {
                        "name": "deploy",
                        "display_name": "deploy",
                        "type": "zadig-deploy",
                        "status": "passed",
                        "spec": {"env": "test", "service_name": "order-service"},
                    }
                ],
            }
        ],
        "task_creator": "alice",
        "task_type": "workflow",
    }
    body.update(workflow)
    return {"object_kind": "workflow", "event": event, "workflow": body, "release_plan": None}


def target() -> Dict[str, Any]:
    return ReplyTarget(
        conversation_id="cidAsXSBLnA==",
        is_group=True,
        user_id="user123",
        session_webhook=SESSION_WEBHOOK,
        session_webhook_expires_ms=32_503_680_000_000,
        robot_code="dingxxxxr3xc0b",
    ).to_dict()


def follow(harness: Harness, workflow_key: str, task_id: int) -> None:
    """What the action server records when it starts a task."""
    harness.runtime.store.add(
        project_key="mall",
        workflow_key=workflow_key,
        task_id=task_id,
        service="order-service",
        environment="test",
        sender_id="cidAsXSBLnA==:user123",
        conversation_id="cidAsXSBLnA==",
        target=target(),
    )


# ------------------------------------------------------------------------------- oracles


def task_number(value: Any) -> Optional[int]:
    """The task id the channel reads from ``workflow.task_id``: its str() must be 1 to 18 ASCII
    digits (so below 2**63; "0042" is task 42)."""
    text = str(value)
    return int(text) if TASK_ID.fullmatch(text) else None


def names_followed_task(payload: Any) -> bool:
    """The notification is about the followed task: ending its follow-up (terminal status) or
    polling it sooner (any other) is then the channel's job, not a change to refuse."""
    workflow = payload.get("workflow") if isinstance(payload, dict) else None
    if not isinstance(workflow, dict):
        return False
    return (
        workflow.get("workflow_name") == FOLLOWED[0]
        and task_number(workflow.get("task_id", "")) == FOLLOWED[1]
    )


def header_event(sent: Sent) -> str:
    """The X-Zadig-Event the channel reads: the first one, as Sanic decodes it (UTF-8 with
    surrogateescape, then ``str.lstrip``, which also takes e.g. a leading U+00A0)."""
    values = [v for k, v in sent.headers if k.lower() == b"x-zadig-event"]
    return values[0].decode("utf-8", "surrogateescape").lstrip() if values else ""


def expected_answer(sent: Sent) -> Tuple[int, Dict[str, Any], Any]:
    """(status, JSON answer, parsed body) for a POST with the right token."""
    if len(sent.body) > MAX_BODY_BYTES:
        return 413, {"error": "body too large"}, None
    try:
        payload = json.loads(sent.body)
    except (ValueError, RecursionError):  # RecursionError: nested beyond what json reads
        return 400, {"error": "body is not JSON"}, None
    if not isinstance(payload, dict):
        return 400, {"error": "body is not a JSON object"}, None
    event = header_event(sent)
    if event in ACCEPTED_EVENTS:
        return 200, {"message": "success"}, payload
    # Only a string names an event; a list or an object in the body is no event at all.
    body_event = payload.get("event")
    if isinstance(body_event, str) and body_event in ACCEPTED_EVENTS:
        return 200, {"message": "success"}, payload
    return 200, {"message": "ignored", "event": event}, payload


# ------------------------------------------------------------------------------- headers

TOKEN_NAMES = [b"X-Zadig-Token", b"x-zadig-token", b"X-ZADIG-TOKEN"]
EVENT_NAMES = [b"X-Zadig-Event", b"x-zadig-event"]
ZADIG_EXTRAS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([b"X-Zadig-Instance", b"X-Zadig-Event-UUID", b"X-Zadig-Webhook-UUID"]),
            header_values,
        ),
        st.tuples(st.just(b"Accept"), accept_values),
    ),
    max_size=3,
)
EVENT_VALUES = st.one_of(
    st.sampled_from([b"workflow", b"complete_execute", b"start_execute", b"Workflow", b""]),
    header_values,
)


@st.composite
def event_headers(draw: st.DrawFn) -> List[Tuple[bytes, bytes]]:
    values = draw(st.lists(EVENT_VALUES, max_size=2))
    return [(draw(st.sampled_from(EVENT_NAMES)), value) for value in values]


WRONG_TOKENS = st.one_of(
    st.sampled_from(
        [
            b"",
            HOOK_TOKEN[:-1].encode(),
            (HOOK_TOKEN + "x").encode(),
            HOOK_TOKEN.upper().encode(),
            HOOK_TOKEN.replace("-", "_").encode(),
            f"Bearer {HOOK_TOKEN}".encode(),
            f"{HOOK_TOKEN},{HOOK_TOKEN}".encode(),
            "ｚａｄｉｇ-hook-secret".encode(),
            ZADIG_TOKEN.encode(),  # the OpenAPI token is not the webhook's
            b"null",
            # not UTF-8 (Sanic hands them over surrogate-escaped)
            b"\xff\xfe",
            HOOK_TOKEN.encode() + b"\xff",
            "令牌".encode("gbk"),
        ]
    ),
    header_values,
).filter(lambda v: v != HOOK_TOKEN.encode())


@st.composite
def wrong_token_headers(draw: st.DrawFn) -> Tuple[List[Tuple[bytes, bytes]], str]:
    """(headers, query string) that do not carry the right token in X-Zadig-Token."""
    kind = draw(st.sampled_from(["none", "wrong", "repeated", "elsewhere", "query"]))
    name = draw(st.sampled_from(TOKEN_NAMES))
    if kind == "none":
        return [], ""
    if kind == "wrong":
        return [(name, draw(WRONG_TOKENS))], ""
    if kind == "repeated":
        return [(name, value) for value in draw(st.lists(WRONG_TOKENS, min_size=2, max_size=3))], ""
    if kind == "elsewhere":
        other = draw(
            st.sampled_from(
                [b"Authorization", b"X-Zadig-Webhook-Token", b"Zadig-Token", b"Token", b"X-Token"]
            )
        )
        value = HOOK_TOKEN.encode()
        if other == b"Authorization":
            value = b"Bearer " + value
        return [(other, value)], ""
    return [], draw(st.sampled_from([f"token={HOOK_TOKEN}", f"X-Zadig-Token={HOOK_TOKEN}"]))


def right_token_headers() -> st.SearchStrategy[List[Tuple[bytes, bytes]]]:
    return st.sampled_from(TOKEN_NAMES).map(lambda name: [(name, HOOK_TOKEN.encode())])


# -------------------------------------------------------------------------------- bodies

HOSTILE_TASK_IDS = st.one_of(
    st.integers(),
    st.integers(-(2**63), -1),
    st.floats(),
    st.sampled_from(
        [
            0,
            -42,
            42.0,
            42.5,
            2**63,
            "42abc",
            " 42",
            "42 ",
            "4 2",
            "+42",
            "-42",
            "0x2a",
            "4.2e1",
            "",
            "abc",
            "42\n",
            "٤٢",  # Arabic-Indic digits: str.isdigit() and int() both accept them
            "４２",  # fullwidth
            "0042",
            "²",  # isdigit() but not int()
            "9" * 18,  # the longest id that counts
            "9" * 19,
            10**18,
            2**63 - 1,
            "9" * 30,
            "9" * 5000,
            True,
            None,
            [],
            {},
            [42],
            {"id": 42},
        ]
    ),
    texts,
)
HOSTILE_WORKFLOWS = st.one_of(
    st.sampled_from(
        [
            "mall-test",
            "mall-prod",
            "mall-dev",
            "MALL-TEST",
            "mall-test ",
            " mall-test",
            "mall_test",
            "",
            "unknown-workflow",
            "../mall-test",
            "mall-test\x00",
            "%",
            "mall-%",
            "' OR '1'='1",
            "mall-test\ud800",
            "\udc00",
        ]
    ),
    texts,
    json_values,
)
HOSTILE_STATUSES = st.one_of(
    st.sampled_from(
        list(TERMINAL)
        + ["running", "waiting", "PASSED", "passed ", "Passed", "success", "ok", "", "unknown"]
        + ["wait_for_approval", "changed", "created", "pause"]
    ),
    texts,
    json_values,
)
NOTIFICATION_KEYS = [
    "object_kind",
    "event",
    "workflow",
    "release_plan",
]
TIME_KEYS = ["create_time", "start_time", "end_time"]
WORKFLOW_KEYS = [
    "task_id",
    "workflow_name",
    "status",
    "project_name",
    "stages",
    "error",
    "create_time",
    "start_time",
    "end_time",
    "task_creator",
    "detail_url",
    "remark",
]


@st.composite
def garbage_bodies(draw: st.DrawFn) -> Tuple[bytes, bool]:
    kind = draw(st.sampled_from(["random", "random", "shape", "shape", "workflow", "huge"]))
    chunked = draw(st.booleans())
    if kind == "random":
        return draw(random_bodies), chunked
    if kind == "huge":
        return draw(huge(MAX_BODY_BYTES))
    if kind == "shape":
        values = st.one_of(json_values, deep_values)
        fields = draw(st.dictionaries(st.sampled_from(NOTIFICATION_KEYS), values, max_size=4))
        return dumps(fields), chunked
    values = st.one_of(json_values, deep_values)
    workflow = draw(st.dictionaries(st.sampled_from(WORKFLOW_KEYS), values, max_size=6))
    return dumps(
        {
            "event": draw(st.sampled_from(["workflow", "complete_execute", "x"])),
            "workflow": workflow,
        }
    ), chunked


@st.composite
def wrong_token_requests(draw: st.DrawFn) -> Sent:
    pairs, query = draw(wrong_token_headers())
    body, chunked = draw(
        st.one_of(
            st.tuples(st.just(dumps(notification())), st.booleans()),  # a genuine completion
            st.tuples(random_bodies, st.booleans()),
            garbage_bodies(),
        )
    )
    headers = pairs + draw(event_headers()) + draw(ZADIG_EXTRAS)
    return Sent(
        with_content_type(headers, draw(content_types)),
        body,
        method=draw(st.sampled_from(HTTP_METHODS)),
        chunked=chunked,
        query=query,
    )


@st.composite
def garbage_requests(draw: st.DrawFn) -> Sent:
    body, chunked = draw(garbage_bodies())
    headers = draw(right_token_headers()) + draw(event_headers()) + draw(ZADIG_EXTRAS)
    return Sent(with_content_type(headers, draw(content_types)), body, chunked=chunked)


@st.composite
def unfollowed_notifications(draw: st.DrawFn) -> Sent:
    overrides = draw(st.dictionaries(st.sampled_from(WORKFLOW_KEYS[3:]), json_values, max_size=3))
    body = notification(
        event=draw(st.sampled_from(["workflow", "complete_execute", None])),
        task_id=draw(HOSTILE_TASK_IDS),
        workflow_name=draw(HOSTILE_WORKFLOWS),
        status=draw(HOSTILE_STATUSES),
        **overrides,
    )
    if draw(st.booleans()):
        del body["workflow"]["task_id"]
    event = draw(st.sampled_from([[(b"X-Zadig-Event", b"workflow")], []]))
    headers = draw(right_token_headers()) + event
    return Sent(with_content_type(headers, b"application/json"), dumps(body))


# Job names end up in the path of the job-log read (chatops/diagnosis.py).
JOB_NAMES = st.one_of(
    # "." and "..": dot segments, which URL normalisation would remove
    st.sampled_from(["deploy", "..", ".", "./..", "%2E", "a/b", "%2e%2e", "?page=1", "#top"]),
    st.sampled_from(["", " ", "job\x00"]),
    texts,
    json_values,
)
# Times as Zadig never sends them: NaN and infinities (Python's json reads and writes them).
TIMES = st.one_of(st.sampled_from([math.inf, -math.inf, math.nan, 1e300]), json_values)
JOB = st.fixed_dictionaries(
    {
        "name": JOB_NAMES,
        "status": st.one_of(st.sampled_from(TERMINAL + ("passed",)), json_values),
    },
    optional={
        "type": st.one_of(
            st.sampled_from(["zadig-deploy", "zadig-build", "approval", "freestyle"]),
            json_values,
        ),
        "display_name": json_values,
        "error": json_values,
        "spec": json_values,
    },
)
STAGE = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "status": st.one_of(st.sampled_from(TERMINAL), json_values),
        "error": json_values,
        "start_time": TIMES,
        "end_time": TIMES,
        "jobs": st.one_of(json_values, st.lists(JOB, max_size=2)),
    },
)


@st.composite
def followed_garbage(draw: st.DrawFn) -> Tuple[Dict[str, Any], str]:
    """(workflow fields, status) for a followed task: the status and the rest garbled."""
    fields = draw(st.dictionaries(st.sampled_from(WORKFLOW_KEYS[3:]), json_values, max_size=6))
    fields.update(draw(st.dictionaries(st.sampled_from(TIME_KEYS), TIMES, max_size=3)))
    shape = draw(st.sampled_from(["failed-job", "stages", "garbage"]))
    if shape == "stages":
        fields["stages"] = draw(st.lists(STAGE, max_size=2))
    if shape == "failed-job":
        # A failure whose log the bot reads: the job name is the attacker's.
        job = {"name": draw(JOB_NAMES), "status": "failed", "type": "zadig-deploy"}
        fields["stages"] = [{"name": "deploy", "status": "failed", "jobs": [job]}]
        return fields, draw(st.sampled_from(["failed", "timeout", "reject"]))
    status = draw(
        st.one_of(
            st.sampled_from(TERMINAL),
            st.sampled_from(["running", "waiting", "PASSED", ""]),
            json_values,
        )
    )
    return fields, status


# --------------------------------------------------------------------------------- tests


@pytest.fixture
def harness(tmp_path: Path):
    with Harness(tmp_path, lambda runtime: ZadigWebhookInput(runtime=runtime), WEBHOOK) as harness:
        follow(harness, *FOLLOWED)
        yield harness


def followed_state(harness: Harness) -> str:
    row = harness.runtime.store.get(*FOLLOWED)
    assert row is not None
    return row.state


def test_requests_without_the_token_are_refused(harness: Harness):
    @settings(max_examples=WRONG_TOKEN_EXAMPLES, **HYPOTHESIS)
    @given(sent=wrong_token_requests())
    def example(sent: Sent) -> None:
        outcome = harness.send(sent)

        assert_nothing_happened(outcome)
        if sent.method != "POST":
            assert (outcome.status, outcome.json()) == (405, not_allowed(sent.method, WEBHOOK))
        else:
            assert outcome.status == 401
            assert outcome.json() == {"error": "invalid X-Zadig-Token"}

    example()

    assert harness.examples >= WRONG_TOKEN_EXAMPLES
    assert harness.statuses[401] >= WRONG_TOKEN_EXAMPLES // 2
    assert followed_state(harness) == "pending"
    assert harness.dingtalk.requests == []
    assert harness.crashes() == []


def test_garbage_with_the_token_gets_a_clear_answer_and_changes_nothing(harness: Harness):
    @settings(max_examples=GARBAGE_EXAMPLES, **HYPOTHESIS)
    @given(sent=garbage_requests())
    def example(sent: Sent) -> None:
        status, answer, payload = expected_answer(sent)
        assume(not names_followed_task(payload))

        outcome = harness.send(sent)

        assert_nothing_happened(outcome)
        assert (outcome.status, outcome.json()) == (status, answer)

    example()

    assert harness.examples >= GARBAGE_EXAMPLES
    # Every kind of answer was exercised (bodies over the limit are the rarest draw).
    assert harness.statuses[200] >= GARBAGE_EXAMPLES // 20
    assert harness.statuses[400] >= GARBAGE_EXAMPLES // 20
    assert harness.statuses[413] >= GARBAGE_EXAMPLES // 50
    assert followed_state(harness) == "pending"
    assert harness.dingtalk.requests == []
    assert harness.crashes() == []


def test_notifications_for_tasks_the_bot_does_not_follow_change_nothing(harness: Harness):
    @settings(max_examples=UNFOLLOWED_EXAMPLES, **HYPOTHESIS)
    @given(sent=unfollowed_notifications())
    def example(sent: Sent) -> None:
        status, answer, payload = expected_answer(sent)
        assume(not names_followed_task(payload))

        outcome = harness.send(sent)

        assert_nothing_happened(outcome)
        assert (outcome.status, outcome.json()) == (status, answer)

    example()

    assert harness.examples >= UNFOLLOWED_EXAMPLES
    assert harness.statuses[200] == harness.examples
    assert followed_state(harness) == "pending"
    assert harness.dingtalk.requests == []
    assert harness.crashes() == []


def test_a_garbled_notification_for_a_followed_task_ends_it_once_or_not_at_all(
    harness: Harness,
):
    task_ids = iter(range(1000, 10**6))

    @settings(max_examples=FOLLOWED_EXAMPLES, **HYPOTHESIS)
    @given(garbled=followed_garbage(), as_text=st.booleans())
    def example(garbled: Tuple[Dict[str, Any], str], as_text: bool) -> None:
        fields, status = garbled
        task_id = next(task_ids)
        follow(harness, FOLLOWED[0], task_id)
        body = notification(**fields, task_id=str(task_id) if as_text else task_id, status=status)
        sent = Sent(((b"X-Zadig-Token", HOOK_TOKEN.encode()),), dumps(body))

        outcome = harness.send(sent)

        assert outcome.status == 200
        assert outcome.json() == {"message": "success"}
        assert outcome.errors == []
        assert outcome.agent_messages == []
        # Nothing triggered or cancelled: at most the failed job's log is read, and the job
        # name stays one path segment of that read, never a dot segment.
        log_path = f"/openapi/logs/log/v4/workflow/{FOLLOWED[0]}/{task_id}/".encode()
        for request in outcome.zadig_requests:
            assert request.method == "GET"
            assert request.url.raw_path.startswith(log_path)
            segment = request.url.raw_path[len(log_path) :].split(b"?")[0]
            assert b"/" not in segment and segment not in (b".", b"..")
        row = harness.runtime.store.get(FOLLOWED[0], task_id)
        assert row is not None
        if status in TERMINAL:
            assert (row.state, row.result_status) == ("delivered", status)
            assert outcome.stored.get("outbox") == 1
            assert outcome.stored.keys() <= {"followups:rows", "outbox", "audit"}
        else:
            # Not over yet: the follow-up stays and is merely polled sooner.
            assert row.state == "pending"
            assert outcome.stored.keys() <= {"followups:rows"}

    example()

    assert harness.examples >= FOLLOWED_EXAMPLES
    assert followed_state(harness) == "pending"
    harness.drain_outbox()
    assert {r.url.host for r in harness.dingtalk.requests} <= {"oapi.dingtalk.com"}
    assert harness.crashes() == []


# ------------------------------------------------------------------------- single cases
# One harness per test (starting one is most of a small test's time): each loops over its cases.


def token(event: bytes = b"workflow") -> Tuple[Tuple[bytes, bytes], ...]:
    return ((b"X-Zadig-Token", HOOK_TOKEN.encode()), (b"X-Zadig-Event", event))


def test_a_token_header_that_is_not_utf8_is_refused(harness: Harness):
    for value in (b"\xff\xfe", HOOK_TOKEN.encode() + b"\xff", "令牌".encode("gbk")):
        outcome = harness.send(Sent(((b"X-Zadig-Token", value),), dumps(notification())))

        assert outcome.status == 401, value
        assert outcome.json() == {"error": "invalid X-Zadig-Token"}
        assert_nothing_happened(outcome)
    assert followed_state(harness) == "pending"
    assert harness.crashes() == []


def test_deeply_nested_json_is_refused(harness: Harness):
    for kind in ("list", "object"):
        for body in (nested_text(5000, kind), dumps(notification(stages=Deep(5000, kind)))):
            outcome = harness.send(Sent(token(), body))

            assert outcome.status == 400, (kind, body[:40])
            assert outcome.json() == {"error": "body is not JSON"}
            assert_nothing_happened(outcome)
    assert followed_state(harness) == "pending"
    assert harness.crashes() == []


def test_an_event_in_the_body_that_is_not_a_string_is_ignored(harness: Harness):
    for event in ([], {}, ["workflow"], {"workflow": 1}):
        outcome = harness.send(Sent(token(b"start_execute"), dumps(notification(event=event))))

        assert outcome.status == 200, event
        assert outcome.json() == {"message": "ignored", "event": "start_execute"}
        assert_nothing_happened(outcome)
    assert followed_state(harness) == "pending"
    assert harness.crashes() == []


def test_a_task_id_that_is_not_1_to_18_ascii_digits_is_ignored_quietly(harness: Harness):
    # "٤٢" (Arabic-Indic) and "４２" (fullwidth) are 42 to int(), but not the followed task 42.
    task_ids = ["²", "٤٢", "４２", "9" * 5000, 2**63, "9" * 30, "9" * 19, 10**18, -42, "42\n"]
    for task_id in task_ids:
        outcome = harness.send(Sent(token(), dumps(notification(task_id=task_id))))

        assert outcome.json() == {"message": "success"}, task_id
        assert_nothing_happened(outcome)
        assert followed_state(harness) == "pending"
    assert harness.crashes() == []


def test_a_task_id_of_up_to_18_ascii_digits_names_the_task(harness: Harness):
    follow(harness, FOLLOWED[0], 10**18 - 1)
    for task_id, number in (("0042", FOLLOWED[1]), ("9" * 18, 10**18 - 1)):
        outcome = harness.send(Sent(token(), dumps(notification(task_id=task_id))))

        assert outcome.json() == {"message": "success"}
        row = harness.runtime.store.get(FOLLOWED[0], number)
        assert row is not None and (row.state, row.result_status) == ("delivered", "passed")
    harness.drain_outbox()
    assert len(harness.dingtalk.requests) == 2
    assert harness.crashes() == []


def test_a_workflow_name_with_a_lone_surrogate_is_ignored_quietly(harness: Harness):
    for name in ("mall-test\ud800", "\udc00", "\ud83d\udc00x"):
        outcome = harness.send(Sent(token(), dumps(notification(workflow_name=name))))

        assert outcome.json() == {"message": "success"}, name
        assert_nothing_happened(outcome)
        assert followed_state(harness) == "pending"
    assert harness.crashes() == []


def test_a_non_finite_time_still_ends_the_follow_up(harness: Harness):
    task_ids = iter(range(1000, 2000))
    for field in ("end_time", "start_time", "create_time"):
        for value in (float("inf"), float("-inf"), float("nan")):
            task_id = next(task_ids)
            follow(harness, FOLLOWED[0], task_id)

            body = notification(task_id=task_id, **{field: value})
            outcome = harness.send(Sent(token(), dumps(body)))

            assert outcome.json() == {"message": "success"}
            assert outcome.errors == []
            row = harness.runtime.store.get(FOLLOWED[0], task_id)
            assert row is not None and row.state == "delivered", (field, value)
    harness.drain_outbox()
    assert len(harness.dingtalk.requests) == 9
    assert harness.crashes() == []


def test_a_lone_surrogate_in_a_stage_still_ends_the_follow_up_and_is_delivered(
    harness: Harness,
):
    stages = [{"name": "deploy\ud800", "status": "failed", "error": "oops\udfff", "jobs": []}]
    body = notification(status="failed", stages=stages)

    outcome = harness.send(Sent(token(), dumps(body)))
    harness.drain_outbox()

    assert outcome.json() == {"message": "success"}
    assert followed_state(harness) == "delivered"  # this much works: the result is queued
    assert harness.runtime.outbox.counts() == {"sent": 1}  # but it is "undeliverable"
    assert len(harness.dingtalk.requests) == 1
    assert harness.crashes() == []


def test_a_failed_job_named_with_a_lone_surrogate_still_ends_the_follow_up(harness: Harness):
    job = {"name": "deploy\ud800", "status": "failed", "type": "zadig-deploy"}
    stages = [{"name": "deploy", "status": "failed", "jobs": [job]}]

    outcome = harness.send(Sent(token(), dumps(notification(status="failed", stages=stages))))

    assert outcome.json() == {"message": "success"}
    assert outcome.errors == []
    assert followed_state(harness) == "delivered"
    harness.drain_outbox()
    assert len(harness.dingtalk.requests) == 1
    assert harness.crashes() == []


def test_a_malformed_accept_header_on_a_wrong_method_is_a_plain_405(harness: Harness):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        for accept in (b"0", b"text/html;q=abc", b"x/y;level", b"application/json;q=2"):
            outcome = harness.send(Sent(((b"Accept", accept),), b"", method=method))

            assert outcome.status == 405, (method, accept)
            assert outcome.json() == not_allowed(method, WEBHOOK)
            assert_nothing_happened(outcome)
    assert harness.crashes() == []


def test_a_job_named_with_dots_reads_only_that_jobs_log(harness: Harness):
    task_ids = iter(range(1000, 2000))
    for name, segment in (("..", b"%2E%2E"), (".", b"%2E")):
        task_id = next(task_ids)
        follow(harness, FOLLOWED[0], task_id)
        job = {"name": name, "status": "failed", "type": "zadig-deploy"}
        stages = [{"name": "deploy", "status": "failed", "jobs": [job]}]
        body = notification(task_id=task_id, status="failed", stages=stages)

        outcome = harness.send(Sent(token(), dumps(body)))

        assert outcome.json() == {"message": "success"}
        [read] = outcome.zadig_requests
        assert read.method == "GET"
        path = f"/openapi/logs/log/v4/workflow/mall-test/{task_id}/".encode() + segment
        assert read.url.raw_path == path
        row = harness.runtime.store.get(FOLLOWED[0], task_id)
        assert row is not None and row.state == "delivered"
    assert harness.crashes() == []
