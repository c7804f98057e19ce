"""What a request is: who asks (`Requester`), and the fingerprint that binds a confirmation or
an approval to one exact plan (services, environment, branch, workflow)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from chatops.access import Actor
from chatops.zadig.models import DeployRequest

# (workflow key, task id) -> the task's page in Zadig's web UI.
TaskLink = Callable[[str, int], str]


@dataclass(frozen=True)
class Requester:
    """Who asks, from where, and what they said (for replies, follow-ups, the audit trail)."""

    actor: Actor
    sender_id: str
    target: Optional[Dict[str, Any]]
    message: str = ""


def fingerprint(plan: DeployRequest) -> str:
    """What a confirmation is bound to: the services, environment, branch and workflow."""
    return fingerprint_of(plan_to_dict(plan))


def plan_to_dict(plan: DeployRequest) -> Dict[str, Any]:
    return {
        "services": list(plan.service_names),
        "environment": plan.env_name,
        "branch": plan.branch,
        "workflow_key": plan.workflow_key,
    }


# "驳回 3 分支不对" -> "分支不对": what is left after the verb and the request number.
_REJECTION = re.compile(
    r"^\s*(?:@\S+\s*)*(?:驳回|拒绝|不批准?|不同意|否决|打回|reject(?:ed)?)\s*"
    r"(?:(?:审批|申请|任务|request|task)?\s*#?\s*\d+\s*号?(?:申请)?)?[\s,，:：。;；]*",
    re.IGNORECASE,
)


def rejection_reason(text: str) -> str:
    """The reason an approver gave with "驳回 N <原因>" (empty when none)."""
    match = _REJECTION.match(text or "")
    rest = (text[match.end() :] if match else "").strip()
    return re.sub(r"^(?:原因|理由|because)\s*[:：]?\s*", "", rest, flags=re.IGNORECASE)[:200]


def fingerprint_of(plan: Dict[str, Any]) -> str:
    text = "|".join(
        (
            ",".join(plan.get("services") or []),
            str(plan.get("environment")),
            str(plan.get("branch")),
            str(plan.get("workflow_key")),
        )
    )
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
