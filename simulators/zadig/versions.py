"""The Zadig server version the simulator plays, and what each version changes.

A version is ``MAJOR.MINOR.PATCH`` (a leading ``v`` is accepted). The gates below are the
version-dependent facts of docs/zadig-openapi.md §3.1, §8 and docs/zadig-task-operations.md §9;
each constant is the first version that has the behaviour. Approvals are simulated from v3.1.0
(job-level approvals); older versions answer as v3.1.0 does except where a gate says otherwise.
"""

from __future__ import annotations

import re
from typing import Dict, Tuple

Version = Tuple[int, int, int]

DEFAULT_VERSION = "5.0.0"
_PATTERN = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")

# docs/zadig-openapi.md §6.2: the workflow ``webhook`` notification type.
WEBHOOK: Version = (3, 1, 0)
# §6.2: v3.1.0-v3.2.x store the address as ``webhook_notify``.
WEBHOOK_CONFIG_FIELD: Version = (3, 3, 0)
# task-operations §1.2, §9: generated job-task names ``job-S-J-N-<job>`` and the preview's
# ``key`` / ``display_name`` / ``origin_name``.
JOB_NAMING: Version = (3, 3, 0)
# task-operations §7: ``PUT /openapi/workflows/custom/:key/task/:id`` (task remark).
REMARK: Version = (3, 3, 0)
# §3.3: DELETE cancel reads the query; older servers read a JSON body only.
CANCEL_QUERY: Version = (3, 4, 0)
# task-operations §2: the job-log OpenAPI.
JOB_LOGS: Version = (3, 4, 0)
# §3.1: jobs left out of ``inputs`` are skipped from v4.0.0; older servers drop them.
SKIP_OMITTED: Version = (4, 0, 0)
# task-operations §1.2: ``approval_message`` in an approval spec.
APPROVAL_MESSAGE: Version = (4, 0, 0)
# task-operations §2.1: deploy jobs upload a log from v4.2.0.
DEPLOY_LOGS: Version = (4, 2, 0)
# task-operations §1.2: ``approval_title``; §8: ``reject`` reaches configs subscribed to
# ``failed``.
APPROVAL_TITLE: Version = (5, 0, 0)
REJECT_AS_FAILED: Version = (5, 0, 0)
# task-operations §4.1: the ``job`` image route came "after v5.0.0 (no tag yet)"; the first
# version after 5.0.0 is taken to have it.
IMAGE_JOB_ROUTE: Version = (5, 0, 1)

# §3.1: the job types v2.0-v3.2 accept in ``inputs``, and the first version of each later one.
_BASE_INPUT_TYPES = (
    "plugin",
    "freestyle",
    "zadig-build",
    "zadig-deploy",
    "k8s-blue-green-deploy",
    "k8s-canary-deploy",
    "custom-deploy",
    "k8s-blue-green-release",
    "zadig-test",
    "k8s-gray-release",
    "k8s-gray-rollback",
    "k8s-resource-patch",
    "zadig-scanning",
)
_ADDED_INPUT_TYPES: Dict[str, Version] = {
    "zadig-vm-deploy": (3, 3, 0),
    "sql": (3, 4, 0),
    "tapd": (4, 0, 0),
    "approval": (4, 1, 0),
    "k8s-canary-release": (4, 1, 0),
    "ai-release-specialist": (5, 0, 0),
    # "after v5.0.0" (§3.1): taken as the first version after it.
    "ai-task": (5, 0, 1),
}


def parse_version(text: str) -> Version:
    """``"4.1.0"`` or ``"v4.1.0"`` -> (4, 1, 0); anything else is a ValueError."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"version must look like 5.0.0, not {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def accepts_input(version: Version, job_type: str) -> bool:
    """Whether the trigger's ``inputs`` may name a job of `job_type` (else 500 undefined type)."""
    if job_type in _BASE_INPUT_TYPES:
        return True
    since = _ADDED_INPUT_TYPES.get(job_type)
    return since is not None and version >= since
