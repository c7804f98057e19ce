import json
from urllib.parse import unquote

import pytest

from chatops.dingtalk.messages import (
    MSG_PARAM_MAX_BYTES,
    choices_markdown,
    dtmd_link,
    markdown_message,
    text_message,
    to_openapi,
)


def test_plain_text_has_no_at():
    assert text_message("发布完成") == {"msgtype": "text", "text": {"content": "发布完成"}}


def test_text_with_mentions_appends_at_text_and_at_block():
    assert text_message("发布完成", ["user123", "user456", "user123"]) == {
        "msgtype": "text",
        "text": {"content": "发布完成\n@user123 @user456"},
        "at": {"atUserIds": ["user123", "user456"], "isAtAll": False},
    }


def test_mention_already_in_text_is_not_repeated():
    message = text_message("@user123 发布完成", ["user123"])
    assert message["text"]["content"] == "@user123 发布完成"
    # ...but a longer id that merely starts with it does not count.
    assert text_message("@user1234 好", ["user123"])["text"]["content"] == "@user1234 好\n@user123"


def test_markdown_with_mentions():
    assert markdown_message("发布 v1.2", "### 发布 v1.2\n- env: prod", ["user123"]) == {
        "msgtype": "markdown",
        "markdown": {"title": "发布 v1.2", "text": "### 发布 v1.2\n- env: prod\n\n@user123"},
        "at": {"atUserIds": ["user123"], "isAtAll": False},
    }
    assert "at" not in markdown_message("t", "x")


def test_dtmd_link_url_encodes_everything():
    link = dtmd_link("确认发布", "确认发布 v1.2 & 回滚?=#/")
    assert link == (
        "[确认发布](dtmd://dingtalkclient/sendMessage?content="
        "%E7%A1%AE%E8%AE%A4%E5%8F%91%E5%B8%83%20v1.2%20%26%20"
        "%E5%9B%9E%E6%BB%9A%3F%3D%23%2F)"
    )
    url = link[link.index("(") + 1 : -1]
    assert unquote(url.split("content=", 1)[1]) == "确认发布 v1.2 & 回滚?=#/"
    assert " " not in url and ")" not in url


def test_dtmd_link_escapes_brackets_in_the_label():
    assert dtmd_link("[prod]", "x").startswith("[\\[prod\\]](")


def test_choices_markdown_one_link_per_option():
    message = choices_markdown(
        "选择环境",
        "要部署到哪个环境？",
        [("开发", "部署到开发环境"), ("测试", "部署到测试环境")],
        at_user_ids=["user123"],
    )
    text = message["markdown"]["text"]
    assert message["msgtype"] == "markdown" and message["markdown"]["title"] == "选择环境"
    assert text.startswith("要部署到哪个环境？\n")
    assert text.count("dtmd://dingtalkclient/sendMessage?content=") == 2
    assert dtmd_link("开发", "部署到开发环境") in text
    assert dtmd_link("测试", "部署到测试环境") in text
    assert "部署到开发环境" in text  # typed fallback for clients without dtmd support
    assert text.endswith("@user123")
    assert message["at"] == {"atUserIds": ["user123"], "isAtAll": False}
    bare = choices_markdown("t", "q", [("是", "是")], typed_hint=False)["markdown"]["text"]
    assert "或回复" not in bare


def test_to_openapi_text_and_markdown():
    key, param = to_openapi(text_message("你好", ["u1"]))
    assert key == "sampleText"
    assert isinstance(param, str) and json.loads(param) == {"content": "你好\n@u1"}
    key, param = to_openapi(markdown_message("标题", "**粗体**"))
    assert key == "sampleMarkdown"
    assert json.loads(param) == {"title": "标题", "text": "**粗体**"}


def test_to_openapi_rejects_other_types():
    with pytest.raises(ValueError):
        to_openapi({"msgtype": "actionCard", "actionCard": {}})


@pytest.mark.parametrize("unit", ["发", "a", '"', "\n", "😀"])
def test_to_openapi_truncates_to_the_byte_limit(unit):
    long = unit * 30_000
    key, param = to_openapi(markdown_message("长消息", long))
    assert len(param.encode("utf-8")) <= MSG_PARAM_MAX_BYTES
    decoded = json.loads(param)
    assert decoded["title"] == "长消息"
    assert decoded["text"].startswith(unit * 100)
    assert decoded["text"].endswith("已截断）")
    # It uses the room: no more than a few dozen bytes are wasted.
    assert len(param.encode("utf-8")) > MSG_PARAM_MAX_BYTES - 40


def test_to_openapi_leaves_short_messages_alone():
    text = "发" * 4000  # 12000 bytes
    assert json.loads(to_openapi(text_message(text))[1])["content"] == text
