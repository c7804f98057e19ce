import json
from typing import List, Optional

import httpx
import pytest

from chatops.dingtalk.inbound import ReplyTarget
from chatops.dingtalk.messages import markdown_message, text_message
from chatops.dingtalk.sender import Delivery, DeliveryFailed, DingTalkSender
from tests.fakes.dingtalk import FakeDingTalk, ok_json, raise_connect

API = "https://api.dingtalk.test"
WEBHOOK = "https://oapi.dingtalk.com/robot/sendBySession?session=abc123"
SECRET = "app-secret-do-not-log"
NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeDingTalk:
    return FakeDingTalk()


@pytest.fixture
def sleeps() -> List[float]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender(fake, sleeps, clock):
    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    return DingTalkSender(
        API,
        "app-key",
        SECRET,
        "robot-code",
        transport=httpx.MockTransport(fake),
        max_attempts=4,
        backoff_base=1.0,
        sleep=sleep,
        clock=clock,
    )


def group_target(expires_ms: Optional[int] = None, webhook: str = WEBHOOK) -> ReplyTarget:
    return ReplyTarget(
        conversation_id="cidGroup==",
        is_group=True,
        user_id="user123",
        session_webhook=webhook,
        session_webhook_expires_ms=int(NOW * 1000) + 5_400_000
        if expires_ms is None
        else expires_ms,
        robot_code="robot-code",
    )


def single_target(**kw) -> ReplyTarget:
    return ReplyTarget(
        conversation_id="cidSingle==",
        is_group=False,
        user_id="user456",
        session_webhook=kw.get("webhook", WEBHOOK),
        session_webhook_expires_ms=kw.get("expires_ms", int(NOW * 1000) + 60_000 * 90),
        robot_code="robot-code",
    )


async def test_session_webhook_ok(sender, fake):
    message = text_message("发布完成", ["user123"])
    delivery = await sender.send(group_target(), message)
    assert delivery == Delivery("session_webhook", 1)
    [request] = fake.requests
    assert str(request.url) == WEBHOOK
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == message
    assert "x-acs-dingtalk-access-token" not in request.headers


async def test_session_gone_falls_back_to_group_openapi(sender, fake):
    fake.script("/robot/sendBySession", ok_json({"errcode": 300001, "errmsg": "session 不存在"}))
    delivery = await sender.send(group_target(), markdown_message("发布", "### 完成", ["user123"]))
    assert delivery.route == "openapi_group"
    assert delivery.attempts == 2
    assert delivery.process_query_key == "pqk-1"
    [token_req] = fake.calls("/v1.0/oauth2/accessToken")
    assert json.loads(token_req.content) == {"appKey": "app-key", "appSecret": SECRET}
    [send] = fake.calls("/v1.0/robot/groupMessages/send")
    assert str(send.url) == API + "/v1.0/robot/groupMessages/send"
    assert send.headers["x-acs-dingtalk-access-token"] == "token-1"
    body = json.loads(send.content)
    assert body == {
        "robotCode": "robot-code",
        "openConversationId": "cidGroup==",
        "msgKey": "sampleMarkdown",
        "msgParam": json.dumps(
            {"title": "发布", "text": "### 完成\n\n@user123"},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
    }
    assert isinstance(body["msgParam"], str)


async def test_single_chat_uses_batch_send(sender, fake):
    fake.script("/robot/sendBySession", ok_json({"errcode": 300001, "errmsg": "session not exist"}))
    delivery = await sender.send(single_target(), text_message("好的"))
    assert delivery.route == "openapi_single"
    [send] = fake.calls("/v1.0/robot/oToMessages/batchSend")
    assert json.loads(send.content) == {
        "robotCode": "robot-code",
        "userIds": ["user456"],
        "msgKey": "sampleText",
        "msgParam": '{"content":"好的"}',
    }
    assert send.headers["x-acs-dingtalk-access-token"] == "token-1"


async def test_expired_by_time_goes_straight_to_openapi(sender, fake, clock):
    target = group_target(expires_ms=int(NOW * 1000) - 1)
    delivery = await sender.send(target, text_message("x"))
    assert delivery == Delivery("openapi_group", 1, "pqk-1")
    assert fake.calls("/robot/sendBySession") == []
    # Within the safety margin counts as expired too.
    near = group_target(expires_ms=int(NOW * 1000) + 10_000)
    assert (await sender.send(near, text_message("y"))).route == "openapi_group"
    assert fake.calls("/robot/sendBySession") == []


async def test_no_webhook_goes_to_openapi(sender, fake):
    delivery = await sender.send(single_target(webhook="", expires_ms=0), text_message("x"))
    assert delivery.route == "openapi_single"


async def test_too_fast_is_retried_with_exponential_backoff(sender, fake, sleeps):
    too_fast = ok_json({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    fake.script("/robot/sendBySession", too_fast, too_fast, too_fast)
    delivery = await sender.send(group_target(), text_message("x"))
    assert delivery == Delivery("session_webhook", 4)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(fake.calls("/robot/sendBySession")) == 4


async def test_gives_up_after_max_attempts(sender, fake, sleeps):
    too_fast = ok_json({"errcode": 130101, "errmsg": "send too fast"})
    fake.script("/robot/sendBySession", *[too_fast] * 10)
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(group_target(), text_message("x"))
    assert info.value.attempts == 4
    assert info.value.route == "session_webhook"
    assert info.value.retryable is True
    assert info.value.throttled is True
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(fake.calls("/robot/sendBySession")) == 4


async def test_a_session_webhook_outside_dingtalk_is_never_posted_to(sender, fake):
    """Metadata naming another host (a forged message) must not make the bot POST there."""
    fake.script("/v1.0/robot/groupMessages/send", ok_json({"processQueryKey": "pqk-1"}))

    delivery = await sender.send(
        group_target(webhook="http://169.254.169.254/latest/meta-data?session=x"),
        text_message("x"),
    )

    assert delivery.route == "openapi_group"
    assert all("169.254.169.254" not in str(r.url) for r in fake.requests)


async def test_a_5xx_is_retryable_but_not_throttling(sender, fake, sleeps):
    fake.script("/robot/sendBySession", *[lambda: httpx.Response(502)] * 10)
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(group_target(), text_message("x"))
    assert info.value.retryable is True and info.value.throttled is False


async def test_http_429_5xx_and_connection_errors_are_retried(sender, fake, sleeps):
    fake.script(
        "/robot/sendBySession",
        raise_connect,
        lambda: httpx.Response(502, text="bad gateway"),
        lambda: httpx.Response(429, headers={"Retry-After": "7"}, text=""),
    )
    delivery = await sender.send(group_target(), text_message("x"))
    assert delivery.attempts == 4
    assert sleeps == [1.0, 2.0, 7.0]


async def test_openapi_throttling_is_retried(sender, fake, sleeps):
    fake.script(
        "/v1.0/robot/groupMessages/send",
        ok_json(
            {"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "message": "qps limit"}, 403
        ),
        ok_json({"code": "sendTooFast", "message": "send too fast", "errcode": 130101}, 400),
    )
    delivery = await sender.send(group_target(webhook=""), text_message("x"))
    assert delivery == Delivery("openapi_group", 3, "pqk-1")
    assert sleeps == [1.0, 2.0]


async def test_openapi_client_error_maps_to_delivery_failed(sender, fake, sleeps):
    fake.script(
        "/v1.0/robot/groupMessages/send",
        ok_json({"code": "invalidParameter.robotCode", "message": "robot 不存在"}, 400),
    )
    with pytest.raises(DeliveryFailed, match="robot 不存在") as info:
        await sender.send(group_target(webhook=""), text_message("x"))
    assert info.value.retryable is False
    assert info.value.route == "openapi_group"
    assert sleeps == []


async def test_bad_credentials_fail_without_leaking_the_secret(sender, fake, caplog):
    fake.script(
        "/v1.0/oauth2/accessToken",
        ok_json(
            {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}, 400
        ),
    )
    with pytest.raises(DeliveryFailed) as info:
        await sender.send(group_target(webhook=""), text_message("x"))
    assert "invalidClientIdOrSecret" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text
    assert SECRET not in repr(sender)


async def test_token_is_cached_across_sends_and_refreshed_near_expiry(sender, fake, clock):
    target = group_target(webhook="")
    for _ in range(3):
        await sender.send(target, text_message("x"))
    assert len(fake.calls("/v1.0/oauth2/accessToken")) == 1
    assert {
        r.headers["x-acs-dingtalk-access-token"]
        for r in fake.calls("/v1.0/robot/groupMessages/send")
    } == {"token-1"}
    clock.now += 7200 - 200  # inside the refresh margin
    await sender.send(target, text_message("x"))
    assert len(fake.calls("/v1.0/oauth2/accessToken")) == 2
    assert (
        fake.calls("/v1.0/robot/groupMessages/send")[-1].headers["x-acs-dingtalk-access-token"]
        == "token-2"
    )


async def test_rejected_token_is_refreshed_once(sender, fake, caplog):
    fake.script(
        "/v1.0/robot/groupMessages/send",
        ok_json({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401),
    )
    delivery = await sender.send(group_target(webhook=""), text_message("x"))
    assert delivery.route == "openapi_group"
    sends = fake.calls("/v1.0/robot/groupMessages/send")
    assert [r.headers["x-acs-dingtalk-access-token"] for r in sends] == ["token-1", "token-2"]
    assert "token-1" not in caplog.text and "token-2" not in caplog.text


async def test_unreachable_user_in_batch_send_fails(sender, fake):
    fake.script(
        "/v1.0/robot/oToMessages/batchSend",
        ok_json({"processQueryKey": "k", "invalidStaffIdList": ["user456"]}),
    )
    with pytest.raises(DeliveryFailed, match="user456"):
        await sender.send(single_target(webhook=""), text_message("x"))


async def test_openapi_cannot_carry_action_cards(sender, fake):
    with pytest.raises(DeliveryFailed, match="actionCard"):
        await sender.send(group_target(webhook=""), {"msgtype": "actionCard", "actionCard": {}})
