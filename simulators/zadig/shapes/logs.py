"""A job's log as the job-log API returns it (docs/zadig-task-operations.md §2.1).

Plain text, written once the job has ended: a build clones, compiles, builds and pushes the
image; a deploy updates the workload and waits for the rollout (deploy jobs upload a log from
v4.2.0); any other job runs its script. A failed job's log ends with what went wrong: an
injected outcome's ``log`` lines, or a made-up reason. Approval jobs have no log.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from chatops.catalog import Catalog
from simulators.zadig.definitions import (
    APPROVAL_TYPE,
    BUILD_TYPE,
    CODEHOST_ADDRESS,
    DEPLOY_TYPE,
    image_repo,
)
from simulators.zadig.lifecycle import JobProgress, JobTask, Task
from simulators.zadig.shapes.discovery import namespace
from simulators.zadig.versions import DEPLOY_LOGS, Version

# (lines before the point of failure, lines after it, the made-up failure)
Script = Tuple[List[str], List[str], List[str]]


def has_log(job_type: str, version: Version) -> bool:
    if job_type == APPROVAL_TYPE:
        return False
    return job_type != DEPLOY_TYPE or version >= DEPLOY_LOGS


def job_log(catalog: Catalog, task: Task, job: JobTask, jp: JobProgress, tail: str = "") -> str:
    """The whole log of `job`, which ended as `jp` says; `tail` replaces the made-up failure."""
    if job.type == BUILD_TYPE:
        before, after, failure = _build_script(catalog, job)
    elif job.type == DEPLOY_TYPE:
        before, after, failure = _deploy_script(catalog, task, job)
    else:
        before, after, failure = _other_script(job)
    head = [
        f"Job {job.name} ({job.display_name}) of workflow {task.workflow_key}, task "
        f"#{task.task_id}",
        f"Job type {job.type}, status {jp.status}",
    ]
    lines = head + before
    if jp.status == "passed":
        lines += after
    elif jp.status == "failed":
        lines += tail.splitlines() if tail else failure
    elif jp.status == "timeout":
        lines += tail.splitlines() if tail else ["ERROR: the job ran out of time and was stopped"]
    elif jp.status == "cancelled":
        lines.append("the job was cancelled")
    return _stamped(lines, jp.start, jp.end)


def _stamped(lines: List[str], start: Optional[float], end: Optional[float]) -> str:
    begin = start or 0.0
    span = max((end or begin) - begin, 0.0)
    out = []
    for i, line in enumerate(lines):
        at = begin + span * i / max(len(lines) - 1, 1)
        stamp = datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        out.append(f"[{stamp}] {line}")
    return "\n".join(out) + "\n"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _build_script(catalog: Catalog, job: JobTask) -> Script:
    spec = job.spec
    module, image = job.service_module, job.image
    repo = spec["repos"][0] if spec["repos"] else {}
    name, branch = repo.get("repo_name", module), repo.get("branch", "")
    commit = repo.get("commit_id", _digest(name))
    tag = image.rsplit(":", 1)[-1]
    before = [
        f"Service {job.service_name}, module {module}",
        f"Preparing the build environment (image registry {image_repo(catalog.registry)})",
        f"Cloning into '/workspace/{name}'...",
        f"git clone {CODEHOST_ADDRESS}/{catalog.repo_namespace}/{name}.git --branch {branch}",
        f"HEAD is now at {commit[:7]} {repo.get('commit_message', '')}",
        "+ make build",
        "go: downloading github.com/gin-gonic/gin v1.9.1",
        "go: downloading gorm.io/gorm v1.25.5",
        f"go build -o bin/{module} ./cmd/{module}",
    ]
    after = [
        "go vet ./...",
        f"ok  \t{module}/internal/service\t0.412s",
        "Step 1/7 : FROM golang:1.22-alpine AS builder",
        "Step 2/7 : WORKDIR /src",
        "Step 3/7 : COPY . .",
        f"Step 4/7 : RUN go build -o /out/app ./cmd/{module}",
        "Step 5/7 : FROM alpine:3.19",
        "Step 6/7 : COPY --from=builder /out/app /app",
        'Step 7/7 : ENTRYPOINT ["/app"]',
        f"Successfully built {_digest(image)[:12]}",
        f"Successfully tagged {image}",
        f"The push refers to repository [{image.rsplit(':', 1)[0]}]",
        f"{tag}: digest: sha256:{_digest(image, 'push')} size: 1780",
        f"Image {image} pushed",
    ]
    failure = [
        f"./internal/handler/{module}.go:42:17: undefined: NewHandler",
        "make: *** [Makefile:12: build] Error 2",
        "ERROR: the build script exited with code 2",
    ]
    return before, after, failure


def _deploy_script(catalog: Catalog, task: Task, job: JobTask) -> Script:
    svc, module, image = job.service_name, job.service_module, job.image
    env_key = job.spec["env"]
    env = catalog.environments.get(env_key)
    where = namespace(catalog.project_key, env) if env else env_key
    rollout = f'Waiting for deployment "{svc}" rollout to finish:'
    before = [
        f"Deploying service {svc} to environment {env_key} (namespace {where})",
        "Service type k8s, deploy contents: image",
        f"Image: {image}",
        f"Updating container {module} of Deployment {svc}",
        f"deployment.apps/{svc} image updated",
        f"{rollout} 0 of 2 updated replicas are available...",
    ]
    after = [
        f"{rollout} 1 of 2 updated replicas are available...",
        f'deployment "{svc}" successfully rolled out',
        f"Service {svc} in environment {env_key} now runs {image}",
    ]
    pod = f"{svc}-{_digest(image)[:10]}-x2k4q"
    failure = [
        f'Pod {pod}: Back-off pulling image "{image}" (ImagePullBackOff)',
        f'error: deployment "{svc}" exceeded its progress deadline',
        f"ERROR: service {svc} in environment {env_key} did not become ready",
    ]
    return before, after, failure


def _other_script(job: JobTask) -> Script:
    before = ["Preparing the job environment", f"+ ./run-{job.origin_name}.sh"]
    after = [
        "=== RUN   TestHealth",
        "--- PASS: TestHealth (0.01s)",
        "=== RUN   TestCheckout",
        "--- PASS: TestCheckout (0.02s)",
        "PASS",
    ]
    failure = [
        "=== RUN   TestCheckout",
        "--- FAIL: TestCheckout (0.02s)",
        "    checkout_test.go:31: expected status 200, got 500",
        "FAIL",
        "ERROR: the script exited with code 1",
    ]
    return before, after, failure
