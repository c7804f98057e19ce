import json
from dataclasses import FrozenInstanceError

import pytest

from chatops.dingtalk.inbound import InboundMessage, MalformedMessage, ReplyTarget, parse_message

# The group sample of docs/dingtalk.md §1.5, verbatim.
GROUP_SAMPLE = {
    "conversationId": "cidAsXSBLnA==",
    "atUsers": [{"dingtalkId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3"}],
    "chatbotCorpId": "ding9f50b15bxxxx16741",
    "chatbotUserId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3",
    "msgId": "msgLICYeHgY4JtMQw==",
    "senderNick": "张三",
    "isAdmin": True,
    "senderStaffId": "user123",
    "sessionWebhookExpiredTime": 1690367502152,
    "createAt": 1690362101894,
    "senderCorpId": "ding9f50b15bxxxx16741",
    "conversationType": "2",
    "senderId": "$:LWCP_v1:$Ff09GIxxxxx",
    "conversationTitle": "测试群",
    "isInAtList": True,
    "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8",
    "text": {"content": " 确认发布 v1.2"},
    "robotCode": "dingxxxxr3xc0b",
    "msgtype": "text",
}

SINGLE_SAMPLE = {
    "conversationId": "cidSingleChat==",
    "chatbotCorpId": "ding9f50b15bxxxx16741",
    "chatbotUserId": "$:LWCP_v1:$4xxTgHFUDZ8Qi8qr3",
    "msgId": "msgSingle==",
    "senderNick": "李四",
    "isAdmin": False,
    "senderStaffId": "user456",
    "sessionWebhookExpiredTime": 1690367502152,
    "createAt": 1690362101894,
    "senderCorpId": "ding9f50b15bxxxx16741",
    "conversationType": "1",
    "senderId": "$:LWCP_v1:$single",
    "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
    "robotCode": "dingxxxxr3xc0b",
    "msgtype": "text",
    "text": {"content": "部署 user-service 到 dev"},
}


def with_(base, **changes):
    data = json.loads(json.dumps(base))
    data.update(changes)
    return data


def test_group_sample_all_fields():
    msg = parse_message(json.dumps(GROUP_SAMPLE, ensure_ascii=False).encode("utf-8"))
    assert msg == InboundMessage(
        msg_id="msgLICYeHgY4JtMQw==",
        msgtype="text",
        text="确认发布 v1.2",
        supported=True,
        conversation_id="cidAsXSBLnA==",
        conversation_type="2",
        conversation_title="测试群",
        sender_staff_id="user123",
        sender_id="$:LWCP_v1:$Ff09GIxxxxx",
        sender_nick="张三",
        session_webhook="https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8",
        session_webhook_expires_ms=1690367502152,
        robot_code="dingxxxxr3xc0b",
        create_at_ms=1690362101894,
        is_admin=True,
        sender_corp_id="ding9f50b15bxxxx16741",
        chatbot_corp_id="ding9f50b15bxxxx16741",
    )
    assert msg.is_group is True
    assert msg.user_id == "user123"


def test_single_chat_sample():
    msg = parse_message(json.dumps(SINGLE_SAMPLE, ensure_ascii=False))
    assert msg.is_group is False
    assert msg.conversation_type == "1"
    assert msg.conversation_title == ""
    assert msg.text == "部署 user-service 到 dev"
    assert msg.user_id == "user456"
    assert msg.is_admin is False


def test_accepts_a_dict_and_ignores_unknown_keys():
    data = with_(
        GROUP_SAMPLE,
        senderPlatform="Mac",
        senderUnionId="u1",
        openThreadId="t",
        hostingContext={"userId": "x"},
        atUsers=[{"dingtalkId": "d", "unionId": "u"}],
    )
    assert parse_message(data) == parse_message(GROUP_SAMPLE)


def test_int_conversation_type_is_normalised():
    msg = parse_message(with_(GROUP_SAMPLE, conversationType=2))
    assert msg.conversation_type == "2" and msg.is_group
    assert parse_message(with_(SINGLE_SAMPLE, conversationType=1)).conversation_type == "1"


def test_string_create_at_and_expiry_are_numbers():
    msg = parse_message(
        with_(GROUP_SAMPLE, createAt="1690362101894", sessionWebhookExpiredTime="1690367502152")
    )
    assert msg.create_at_ms == 1690362101894
    assert msg.session_webhook_expires_ms == 1690367502152


@pytest.mark.parametrize(
    "content,expected",
    [
        (" 你好", "你好"),
        ("\u3000 部署\n", "部署"),
        ("   ", ""),
        ("状态", "状态"),
    ],
)
def test_text_whitespace_left_by_the_mention_is_stripped(content, expected):
    assert parse_message(with_(GROUP_SAMPLE, text={"content": content})).text == expected


@pytest.mark.parametrize(
    "msgtype,content",
    [
        ("picture", {"pictureDownloadCode": "p", "downloadCode": "d"}),
        (
            "richText",
            {
                "richText": [
                    {"text": "看图"},
                    {"pictureDownloadCode": "p", "downloadCode": "d", "type": "picture"},
                ]
            },
        ),
        ("video", {"duration": "5", "videoType": "mp4", "downloadCode": "d"}),
        ("file", {"spaceId": "1", "fileName": "foobar.zip", "downloadCode": "d", "fileId": "f"}),
        ("unknownMsgType", {"unknownMsgType": "用户发送了一条消息，机器人暂不支持接收。"}),
        ("audio", {"downloadCode": "d"}),
        ("audio", {"downloadCode": "d", "recognition": "  "}),
    ],
)
def test_non_text_types_are_unsupported(msgtype, content):
    data = with_(GROUP_SAMPLE, msgtype=msgtype, content=content)
    del data["text"]
    msg = parse_message(data)
    assert msg.msgtype == msgtype
    assert msg.supported is False
    assert msg.text == ""


def test_audio_with_recognition_is_text():
    data = with_(
        SINGLE_SAMPLE,
        msgtype="audio",
        content={"downloadCode": "d", "recognition": "部署订单服务到测试环境"},
    )
    del data["text"]
    msg = parse_message(data)
    assert msg.supported is True
    assert msg.text == "部署订单服务到测试环境"


def test_missing_msgtype_is_unsupported_not_an_error():
    data = with_(GROUP_SAMPLE)
    del data["msgtype"]
    assert parse_message(data).supported is False


@pytest.mark.parametrize("body", [b"{not json", "", b"\xff\xfe", "[1, 2]", '"text"', "null", b"42"])
def test_malformed_bodies(body):
    with pytest.raises(MalformedMessage):
        parse_message(body)


@pytest.mark.parametrize("missing", ["msgId", "conversationId"])
def test_missing_ids_are_malformed(missing):
    data = with_(GROUP_SAMPLE)
    del data[missing]
    with pytest.raises(MalformedMessage, match=missing):
        parse_message(data)


def test_external_user_falls_back_to_sender_id():
    data = with_(GROUP_SAMPLE)
    del data["senderStaffId"]
    msg = parse_message(data)
    assert msg.sender_staff_id == ""
    assert msg.user_id == "$:LWCP_v1:$Ff09GIxxxxx"


def test_reply_target_round_trips_through_json():
    target = parse_message(GROUP_SAMPLE).reply_target()
    assert target == ReplyTarget(
        conversation_id="cidAsXSBLnA==",
        is_group=True,
        user_id="user123",
        session_webhook="https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4xxxx8f59e8",
        session_webhook_expires_ms=1690367502152,
        robot_code="dingxxxxr3xc0b",
    )
    again = ReplyTarget.from_dict(json.loads(json.dumps(target.to_dict())))
    assert again == target


def test_reply_target_from_dict_tolerates_missing_optional_fields():
    target = ReplyTarget.from_dict({"conversation_id": "cid", "is_group": False, "user_id": "u"})
    assert target.session_webhook == "" and target.session_webhook_expires_ms == 0
    with pytest.raises(ValueError, match="conversation_id"):
        ReplyTarget.from_dict({"is_group": True})


def test_message_is_frozen():
    msg = parse_message(GROUP_SAMPLE)
    with pytest.raises(FrozenInstanceError):
        msg.text = "changed"  # type: ignore[misc]
