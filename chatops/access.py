"""Deciding who may do what: the catalog's access policy applied to one person and one request.

Only members of the robot's own DingTalk organisation can change anything: a message carries
the sender's staff id (``senderStaffId``) and corp (``senderCorpId``), and they must equal the
robot's (``chatbotCorpId``); people outside it have neither (docs/dingtalk.md §1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from chatops.catalog.access import MEMBERS, REQUESTER, AccessPolicy
from chatops.dingtalk.inbound import DingTalkContext


@dataclass(frozen=True)
class Actor:
    """Who sent a message, as far as DingTalk vouches for it."""

    staff_id: str
    nick: str
    member: bool
    conversation_id: str
    is_group: bool = True

    @classmethod
    def from_context(cls, context: Optional[DingTalkContext]) -> "Actor":
        """Nobody (not a member) when the message did not come through DingTalk."""
        if context is None:
            return cls(staff_id="", nick="", member=False, conversation_id="")
        member = bool(
            context.staff_id
            and context.chatbot_corp_id
            and context.sender_corp_id == context.chatbot_corp_id
        )
        return cls(
            staff_id=context.staff_id,
            nick=context.nick or context.staff_id,
            member=member,
            conversation_id=context.conversation_id,
            is_group=context.is_group,
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Why not: "member" (outside the organisation), "conversation" (not from an allowed
    # group), "role" (needs one of `roles`), "self" (approving one's own request), "nobody".
    missing: str = ""
    roles: Tuple[str, ...] = ()
    # Staff ids of people who could do it instead (for "可以 @…").
    helpers: Tuple[str, ...] = ()


ALLOWED = Decision(True)


def check(
    policy: AccessPolicy,
    action: str,
    env_key: str,
    actor: Actor,
    *,
    requester: Optional[str] = None,
) -> Decision:
    """May ``actor`` do ``action`` in ``env_key``? ``requester`` = staff id of who asked for
    the task concerned (for rules naming ``requester``)."""
    if not actor.member:
        return Decision(False, "member")
    access = policy.for_environment(env_key)
    if (
        access.conversations
        and actor.is_group
        and actor.conversation_id not in access.conversations
    ):
        return Decision(False, "conversation")
    principals = policy.principals(action, env_key)
    if _named(policy, principals, actor.staff_id, requester):
        return ALLOWED
    roles = tuple(p for p in principals if p not in (MEMBERS, REQUESTER))
    helpers = tuple(policy.staff_of(roles))
    return Decision(False, "role" if principals else "nobody", roles, helpers)


def check_approver(policy: AccessPolicy, env_key: str, actor: Actor, requester: str) -> Decision:
    """May ``actor`` approve (or reject) someone's request in ``env_key``?"""
    decision = check(policy, "approve", env_key, actor)
    if not decision.allowed:
        return decision
    if actor.staff_id == requester:
        others = tuple(
            s for s in policy.staff_of(policy.principals("approve", env_key)) if s != requester
        )
        return Decision(False, "self", policy.principals("approve", env_key), others)
    return ALLOWED


def approvers(policy: AccessPolicy, env_key: str, requester: str) -> Tuple[str, ...]:
    """Staff ids who can approve a request of ``requester`` (to @-mention them)."""
    return tuple(
        s for s in policy.staff_of(policy.principals("approve", env_key)) if s != requester
    )


def frozen_exempt(policy: AccessPolicy, env_key: str, actor: Actor) -> bool:
    """May ``actor`` still act in ``env_key`` while it is frozen?"""
    exempt = policy.for_environment(env_key).freeze_exempt
    return actor.member and _named(policy, exempt, actor.staff_id, None)


def _named(
    policy: AccessPolicy, principals: Tuple[str, ...], staff_id: str, requester: Optional[str]
) -> bool:
    for principal in principals:
        if principal == MEMBERS:
            return True
        if principal == REQUESTER and requester and staff_id == requester:
            return True
        if principal.startswith("staff:") and principal[len("staff:") :] == staff_id:
            return True
        if staff_id in policy.roles.get(principal, frozenset()):
            return True
    return False
