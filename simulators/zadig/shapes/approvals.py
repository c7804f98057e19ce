"""An approval job's ``spec``, in a task and in the workflow definition
(docs/zadig-task-operations.md §1.2, §10 "Approvals").

Both come back from MongoDB undecoded, so the keys are BSON names: nil pointers stay ``null``,
``flat_approve_users`` is absent, a WorkWX node says ``user_id``. The native kind is exact to the
docs; the Lark / DingTalk / WorkWX objects carry the documented keys with plausible values.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from simulators.zadig.definitions import ApprovalDef, Approver
from simulators.zadig.lifecycle import Vote
from simulators.zadig.versions import APPROVAL_MESSAGE, APPROVAL_TITLE, Version

# How a decided approval job reads in ``native_approval.reject_or_approve`` (inferred: the
# vote values).
_DECIDED = {"passed": "approve", "reject": "reject"}


def _native_user(user: Approver, vote: Optional[Vote]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"type": "user", "user_id": user.user_id, "user_name": user.user_name}
    if vote is not None:
        out.update(
            {
                "reject_or_approve": "approve" if vote.approve else "reject",
                "comment": vote.comment,
                "operation_time": int(vote.time),
            }
        )
    return out


def _native(approval: ApprovalDef, votes: Sequence[Vote], decided: str) -> Dict[str, Any]:
    by_user = {vote.user_id: vote for vote in votes}
    return {
        "timeout": 0,  # legacy: only the TTL of the vote record
        "approve_users": [_native_user(u, by_user.get(u.user_id)) for u in approval.approvers],
        "needed_approvers": approval.needed,
        "reject_or_approve": decided,
        "instance_code": "",
    }


def _lark(approval: ApprovalDef) -> Dict[str, Any]:
    users = [
        {"id": u.user_id, "id_type": "user_id", "name": u.user_name, "is_executor": False}
        for u in approval.approvers
    ]
    return {
        "timeout": 0,
        "approval_id": "",
        "default_approval_initiator": None,
        "approval_initiator": None,
        "approval_nodes": [
            {
                "type": "AND",
                "approve_node_type": "",
                "approve_groups": [],
                "approve_users": users,
                "cc_users": [],
                "cc_groups": [],
                "reject_or_approve": "",
            }
        ],
        "instance_code": "",
        "approval_instance": None,
        "approve_users": [],
    }


def _dingtalk(approval: ApprovalDef) -> Dict[str, Any]:
    users = [{"id": u.user_id, "name": u.user_name, "avatar": ""} for u in approval.approvers]
    return {
        "timeout": 0,
        "approval_id": "",
        "default_approval_initiator": None,
        "approval_nodes": [{"approve_users": users, "type": "AND", "reject_or_approve": ""}],
        "instance_code": "",
    }


def _workwx(approval: ApprovalDef) -> Dict[str, Any]:
    return {
        "timeout": 0,
        "approval_id": "",
        "creator_user": None,
        "approval_nodes": [
            {
                "type": 1,
                "apv_rel": 1,
                "users": [{"name": u.user_name, "id": u.user_id} for u in approval.approvers],
                "user_id": [u.user_id for u in approval.approvers],
                "status": 0,
                "sub_nodes": [],
            }
        ],
        "approval_node_details": [],
        "instance_id": "",
    }


def approval_spec(
    approval: ApprovalDef,
    version: Version,
    votes: Sequence[Vote] = (),
    status: str = "",
    definition: bool = False,
) -> Dict[str, Any]:
    """The spec of an approval job task with its votes and `status`, or (`definition`) of the
    approval job in the workflow, which also names its ``source``."""
    spec: Dict[str, Any] = {"timeout": approval.timeout, "type": approval.kind}
    if definition:
        spec.update({"source": "", "job_name": "", "origin_job_name": ""})
    spec["description"] = approval.description
    if version >= APPROVAL_MESSAGE:
        spec["approval_message"] = ""
    if version >= APPROVAL_TITLE:
        spec["approval_title"] = ""
    kinds: List[Any] = [
        ("native_approval", "native", lambda: _native(approval, votes, _DECIDED.get(status, ""))),
        ("lark_approval", "lark", lambda: _lark(approval)),
        ("dingtalk_approval", "dingtalk", lambda: _dingtalk(approval)),
        ("workwx_approval", "workwx", lambda: _workwx(approval)),
    ]
    for key, kind, build in kinds:
        spec[key] = build() if approval.kind == kind else None
    return spec
