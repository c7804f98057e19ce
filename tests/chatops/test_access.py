"""chatops/access.py: the shipped demo policy applied to members, outsiders and requesters."""

from __future__ import annotations

import pytest

from chatops.access import Actor, approvers, check, check_approver, frozen_exempt
from chatops.catalog import load_catalog
from chatops.dingtalk.inbound import DingTalkContext, ReplyTarget

POLICY = load_catalog().access
CORP = "dingcorp"


def actor(staff: str, member: bool = True, conversation: str = "cid-1") -> Actor:
    return Actor(
        staff_id=staff if member else "", nick=staff, member=member, conversation_id=conversation
    )


def context(staff: str, sender_corp: str = CORP, bot_corp: str = CORP) -> DingTalkContext:
    return DingTalkContext(
        msg_id="m",
        conversation_id="cid-1",
        conversation_title="群",
        is_group=True,
        user_id=staff or "$:LWCP_v1:$x",
        nick="某人",
        target=ReplyTarget("cid-1", True, staff),
        staff_id=staff,
        sender_corp_id=sender_corp,
        chatbot_corp_id=bot_corp,
    )


def test_membership_needs_a_staff_id_and_the_robots_own_corp():
    assert Actor.from_context(context("user123")).member
    assert not Actor.from_context(context("")).member  # external: no senderStaffId
    assert not Actor.from_context(context("user123", sender_corp="dingother")).member
    assert not Actor.from_context(context("user123", bot_corp="")).member
    assert not Actor.from_context(None).member  # not from DingTalk at all


@pytest.mark.parametrize("env", ["dev", "test", "uat", "prod"])
def test_any_member_may_request_a_deploy(env):
    assert check(POLICY, "deploy", env, actor("user123")).allowed


@pytest.mark.parametrize("action", ["deploy", "cancel", "lock", "rollback"])
def test_an_outsider_may_change_nothing(action):
    decision = check(POLICY, action, "dev", actor("x", member=False))
    assert (decision.allowed, decision.missing) == (False, "member")


def test_cancelling_in_prod_is_for_the_requester_or_a_release_manager():
    assert check(POLICY, "cancel", "prod", actor("user123"), requester="user123").allowed
    assert check(POLICY, "cancel", "prod", actor("lead01"), requester="user123").allowed
    bob = check(POLICY, "cancel", "prod", actor("bob"), requester="user123")
    assert (bob.allowed, bob.missing, bob.roles, bob.helpers) == (
        False,
        "role",
        ("release-managers",),
        ("lead01", "lead02"),
    )
    assert check(POLICY, "cancel", "test", actor("bob"), requester="user123").allowed


def test_approving_needs_the_role_and_another_person():
    assert check_approver(POLICY, "prod", actor("lead01"), requester="user123").allowed
    me = check_approver(POLICY, "prod", actor("lead01"), requester="lead01")
    assert (me.allowed, me.missing, me.helpers) == (False, "self", ("lead02",))
    outsider = check_approver(POLICY, "prod", actor("user456"), requester="user123")
    assert (outsider.allowed, outsider.missing, outsider.roles) == (
        False,
        "role",
        ("release-managers",),
    )
    assert approvers(POLICY, "prod", "lead02") == ("lead01",)


def test_locking_prod_is_for_release_managers_only():
    assert not check(POLICY, "lock", "prod", actor("user123")).allowed
    assert check(POLICY, "lock", "prod", actor("lead02")).allowed
    assert check(POLICY, "lock", "uat", actor("user123")).allowed


def test_only_release_managers_act_in_a_prod_freeze():
    assert frozen_exempt(POLICY, "prod", actor("lead01"))
    assert not frozen_exempt(POLICY, "prod", actor("user123"))
    assert not frozen_exempt(POLICY, "dev", actor("lead01"))  # no exemption declared there
