"""DingTalk (钉钉) robot protocol: verify callbacks, parse messages, build and send replies.

Plain Python with no Rasa import; see docs/dingtalk.md for the protocol.
"""

from chatops.dingtalk.inbound import InboundMessage, MalformedMessage, ReplyTarget, parse_message
from chatops.dingtalk.messages import (
    choices_markdown,
    dtmd_link,
    markdown_message,
    text_message,
    to_openapi,
)
from chatops.dingtalk.sender import Delivery, DeliveryFailed, DingTalkSender
from chatops.dingtalk.signing import SignatureError, sign, verify_request

__all__ = [
    "Delivery",
    "DeliveryFailed",
    "DingTalkSender",
    "InboundMessage",
    "MalformedMessage",
    "ReplyTarget",
    "SignatureError",
    "choices_markdown",
    "dtmd_link",
    "markdown_message",
    "parse_message",
    "sign",
    "text_message",
    "to_openapi",
    "verify_request",
]
