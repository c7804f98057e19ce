"""Typed results of the Zadig OpenAPI (the client never hands raw dicts to callers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple


@dataclass(frozen=True)
class ServiceBuild:
    """One service of a build+deploy run: its Zadig name, module (container) and repository."""

    service_name: str
    service_module: str
    repo_name: str


@dataclass(frozen=True)
class DeployRequest:
    """Everything one build-and-deploy run of a custom workflow needs.

    Produced by the catalog (`Catalog.plan`), consumed by `ZadigClient.trigger_deploy`, which
    always sends *both* the build and the deploy job: Zadig silently skips a job left out of
    `inputs`, so a deploy that builds nothing cannot be expressed. Several services build and
    deploy in the same task. ``approval_jobs`` names the workflow's approval jobs, listed with
    empty parameters so Zadig keeps them (docs/zadig-openapi.md §3.1).
    """

    project_key: str
    workflow_key: str
    build_job: str
    deploy_job: str
    registry: str
    codehost_name: str
    repo_namespace: str
    services: Tuple[ServiceBuild, ...]
    branch: str
    env_name: str
    production: bool = False
    approval_jobs: Tuple[str, ...] = ()

    @property
    def service_names(self) -> Tuple[str, ...]:
        return tuple(s.service_name for s in self.services)


@dataclass(frozen=True)
class ServiceImage:
    service_name: str
    service_module: str
    image: str


@dataclass(frozen=True)
class RollbackRequest:
    """A deploy-only run of the environment's rollback workflow with images chosen now."""

    project_key: str
    workflow_key: str
    deploy_job: str
    env_name: str
    images: Tuple[ServiceImage, ...]
    production: bool = False
    approval_jobs: Tuple[str, ...] = ()

    @property
    def service_names(self) -> Tuple[str, ...]:
        return tuple(i.service_name for i in self.images)


# -- task status ------------------------------------------------------------------------------
# Zadig's own CompletedStatus()/FailedStatus() (aslan config/consts.go). "reject" (approval
# refused) is terminal too, although WorkflowTask.Finished() forgets it.
TERMINAL_STATUSES = frozenset({"passed", "failed", "timeout", "cancelled", "reject"})
FAILED_STATUSES = frozenset({"failed", "timeout", "cancelled", "reject"})


def _time(value: Any) -> Optional[int]:
    """Unix seconds; Zadig omits (omitempty) or zeroes a time that has not happened yet."""
    try:
        return int(value) or None
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _object(value: Any) -> Dict[str, Any]:
    """A JSON object, or an empty one when Zadig sent null or something else."""
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> List[Dict[str, Any]]:
    """A list of objects; Zadig sends null or omits empty lists on some versions."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _workflow_identity(data: Dict[str, Any]) -> Tuple[str, str, str]:
    """(workflow_key, workflow_name, project_key) across versions.

    v1.18+ send workflow_key (identifier), workflow_name (display name) and project_key;
    before v1.18 workflow_name *was* the key, the display name was workflow_display_name
    (v1.17) and the project was project_name.
    """
    if data.get("workflow_key"):
        key = _text(data["workflow_key"])
        name = _text(data.get("workflow_name")) or key
    else:
        key = _text(data.get("workflow_name"))
        name = _text(data.get("workflow_display_name")) or key
    project = _text(data.get("project_key") or data.get("project_name"))
    return key, name, project


@dataclass(frozen=True)
class TriggeredTask:
    project_key: str
    workflow_key: str
    task_id: int


@dataclass(frozen=True)
class Approver:
    name: str
    decision: str = ""  # "approve" / "reject" once they voted
    comment: str = ""


@dataclass(frozen=True)
class ApprovalSpec:
    """An approval job's spec (docs/zadig-task-operations.md §1.2)."""

    type: str  # native, lark, lark_intl, dingtalk, workwx: only native is decided by the API
    approvers: Tuple[Approver, ...] = ()
    needed: int = 1
    timeout_minutes: int = 60
    description: str = ""

    @classmethod
    def from_spec(cls, spec: Dict[str, Any]) -> "ApprovalSpec":
        kind = _text(spec.get("type")) or "native"
        native = _object(spec.get("native_approval"))
        approvers = tuple(
            Approver(
                _text(u.get("user_name") or u.get("name") or u.get("user_id")),
                _text(u.get("reject_or_approve")),
                _text(u.get("comment")),
            )
            for u in _items(native.get("approve_users"))
        )
        for key in ("lark_approval", "dingtalk_approval", "workwx_approval"):
            for node in _items(_object(spec.get(key)).get("approval_nodes")):
                for user in _items(node.get("approve_users")) + _items(node.get("users")):
                    approvers += (Approver(_text(user.get("name") or user.get("id"))),)
        try:
            needed = int(native.get("needed_approvers") or 1)
            timeout = int(spec.get("timeout") or 0) or 60
        except (TypeError, ValueError):
            needed, timeout = 1, 60
        return cls(kind, approvers, needed, timeout, _text(spec.get("description")))

    @property
    def decidable_by_api(self) -> bool:
        return self.type == "native"


@dataclass(frozen=True)
class Job:
    name: str  # Zadig's generated job-task name, e.g. "job-0-0-0-build" (what logs/approve want)
    type: str
    status: str
    error: str = ""
    start_time: Optional[int] = None
    end_time: Optional[int] = None
    display_name: str = ""  # the workflow's job name ("build"), what people recognise
    services: Tuple[str, ...] = ()  # service names from the build/deploy spec
    # A deploy job's images per service (docs/zadig-task-operations.md §5).
    images: Tuple["ServiceImage", ...] = ()
    env: str = ""  # a deploy job's environment
    approval: Optional[ApprovalSpec] = None

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Job":
        name = _text(data.get("name"))
        spec = _object(data.get("spec"))
        services = [_text(spec.get("service_name"))]
        pairs = _items(spec.get("service_and_images"))
        services += [_text(s.get("service_name")) for s in pairs]
        kind = _text(data.get("type"))
        images = tuple(
            ServiceImage(
                _text(p.get("service_name")), _text(p.get("service_module")), _text(p.get("image"))
            )
            for p in pairs
            if p.get("service_name")
        )
        return cls(
            name=name,
            type=kind,
            status=_text(data.get("status")),
            error=_text(data.get("error")),
            start_time=_time(data.get("start_time")),
            end_time=_time(data.get("end_time")),
            display_name=_text(data.get("display_name") or data.get("origin_name")) or name,
            services=tuple(dict.fromkeys(x for x in services if x)),
            images=images if kind == "zadig-deploy" else (),
            env=_text(spec.get("env")),
            approval=ApprovalSpec.from_spec(spec) if kind == "approval" else None,
        )

    @property
    def waiting_for_approval(self) -> bool:
        return self.status == "wait_for_approval"


@dataclass(frozen=True)
class Stage:
    name: str
    status: str
    start_time: Optional[int] = None
    end_time: Optional[int] = None
    error: str = ""
    jobs: Tuple[Job, ...] = ()

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Stage":
        return cls(
            name=_text(data.get("name")),
            status=_text(data.get("status")),
            start_time=_time(data.get("start_time")),
            end_time=_time(data.get("end_time")),
            error=_text(data.get("error")),
            jobs=tuple(Job.from_api(j) for j in _items(data.get("jobs"))),
        )


@dataclass(frozen=True)
class TaskSummary:
    """One row of a workflow's task history (no stages)."""

    task_id: int
    workflow_key: str
    workflow_name: str
    project_key: str
    status: str  # "" when Zadig omitted it: the task has not started (InCompletedStatus)
    task_creator: str = ""
    create_time: Optional[int] = None
    start_time: Optional[int] = None
    end_time: Optional[int] = None

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "TaskSummary":
        return cls(**_summary_fields(data))

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _summary_fields(data: Dict[str, Any]) -> Dict[str, Any]:
    key, name, project = _workflow_identity(data)
    return dict(
        task_id=int(data.get("task_id") or 0),
        workflow_key=key,
        workflow_name=name,
        project_key=project,
        status=_text(data.get("status")),
        task_creator=_text(data.get("task_creator")),
        create_time=_time(data.get("create_time")),
        start_time=_time(data.get("start_time")),
        end_time=_time(data.get("end_time")),
    )


@dataclass(frozen=True)
class Task(TaskSummary):
    """One custom-workflow task as `GET /openapi/workflows/custom/task` shows it."""

    error: str = ""
    stages: Tuple[Stage, ...] = ()

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Task":
        return cls(
            **_summary_fields(data),
            error=_text(data.get("error")),
            stages=tuple(Stage.from_api(s) for s in _items(data.get("stages"))),
        )

    @property
    def is_running(self) -> bool:
        """Exactly "running"; a new task is "waiting" first (in progress = not is_terminal)."""
        return self.status == "running"

    @property
    def duration_seconds(self) -> Optional[int]:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def services(self) -> Tuple[str, ...]:
        """Every service the task's build and deploy jobs name."""
        names = (svc for stage in self.stages for job in stage.jobs for svc in job.services)
        return tuple(dict.fromkeys(names))

    @property
    def failed_stage(self) -> Optional[Stage]:
        return next((s for s in self.stages if s.status in FAILED_STATUSES), None)

    @property
    def jobs(self) -> Tuple[Job, ...]:
        return tuple(job for stage in self.stages for job in stage.jobs)

    @property
    def failed_jobs(self) -> Tuple[Job, ...]:
        return tuple(job for job in self.jobs if job.status in FAILED_STATUSES)

    @property
    def waiting_approval(self) -> Optional[Job]:
        """The approval job waiting now (v3.1+: job status; before: a stage "waitforapprove")."""
        for stage in self.stages:
            for job in stage.jobs:
                if job.waiting_for_approval:
                    return job
            if stage.status == "waitforapprove":
                return Job(name=stage.name, type="approval", status=stage.status)
        return None

    @property
    def is_retryable(self) -> bool:
        """Zadig retries only failed, timeout, cancelled and reject tasks (same task id)."""
        return self.status in FAILED_STATUSES

    def deployed_images(self, env: str) -> Dict[str, "ServiceImage"]:
        """Service -> image that passed deploy jobs of this task put into ``env``."""
        found: Dict[str, ServiceImage] = {}
        for job in self.jobs:
            if job.type == "zadig-deploy" and job.status == "passed" and job.env in ("", env):
                for image in job.images:
                    if image.image and not image.image.startswith("{{"):
                        found[image.service_name] = image
        return found


@dataclass(frozen=True)
class TaskPage:
    total: int
    tasks: Tuple[TaskSummary, ...]


@dataclass(frozen=True)
class Project:
    key: str
    name: str  # display name
    deploy_type: str = ""
    description: str = ""

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Project":
        key = _text(data.get("project_key"))
        return cls(
            key=key,
            name=_text(data.get("project_name")) or key,
            deploy_type=_text(data.get("deploy_type")),
            description=_text(data.get("description")),
        )


@dataclass(frozen=True)
class WorkflowSummary:
    key: str
    name: str  # display name
    type: str  # "custom" for workflows this client can trigger; legacy ones are "product"
    update_by: str = ""
    update_time: Optional[int] = None

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "WorkflowSummary":
        key = _text(data.get("workflow_key"))
        return cls(
            key=key,
            name=_text(data.get("workflow_name")) or key,
            type=_text(data.get("type")),
            update_by=_text(data.get("update_by")),
            update_time=_time(data.get("update_time")),
        )

    @property
    def is_custom(self) -> bool:
        return self.type == "custom"


class WorkflowJob(NamedTuple):
    stage: str
    name: str  # the job_name to use in trigger inputs
    type: str


@dataclass(frozen=True)
class WorkflowDetail:
    workflow_key: str
    workflow_name: str
    project_key: str
    jobs: Tuple[WorkflowJob, ...]
    deploy_env: Optional[str] = (
        None  # spec.env of the first zadig-deploy job ("" = chosen at run time)
    )

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "WorkflowDetail":
        key, name, project = _workflow_identity(data)
        jobs: List[WorkflowJob] = []
        deploy_env: Optional[str] = None
        for stage in _items(data.get("stages")):
            for job in _items(stage.get("jobs")):
                jobs.append(
                    WorkflowJob(
                        _text(stage.get("name")), _text(job.get("name")), _text(job.get("type"))
                    )
                )
                if job.get("type") == "zadig-deploy" and deploy_env is None:
                    deploy_env = _text(_object(job.get("spec")).get("env"))
        return cls(key, name, project, tuple(jobs), deploy_env)

    def _first(self, job_type: str) -> Optional[str]:
        return next((j.name for j in self.jobs if j.type == job_type), None)

    @property
    def build_job_name(self) -> Optional[str]:
        return self._first("zadig-build")

    @property
    def deploy_job_name(self) -> Optional[str]:
        return self._first("zadig-deploy")


@dataclass(frozen=True)
class EnvironmentInfo:
    key: str
    alias: str = ""
    production: bool = False
    status: str = ""

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "EnvironmentInfo":
        # The list endpoint spells the alias "envName", the detail endpoint "env_name".
        return cls(
            key=_text(data.get("env_key")),
            alias=_text(data.get("envName") or data.get("env_name")),
            production=bool(data.get("production")),
            status=_text(data.get("status")),
        )


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    modules: Tuple[str, ...]  # containers[].name = the service_module a build/deploy needs
    type: str = ""

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "ServiceInfo":
        modules = tuple(
            _text(c.get("name")) for c in _items(data.get("containers")) if c.get("name")
        )
        return cls(
            name=_text(data.get("service_name")), modules=modules, type=_text(data.get("type"))
        )


@dataclass(frozen=True)
class RegistryInfo:
    id: str
    address: str
    namespace: str
    provider: str = ""
    is_default: bool = False

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "RegistryInfo":
        return cls(
            id=_text(data.get("registry_id") or data.get("id")),
            address=_text(data.get("address")),
            namespace=_text(data.get("namespace")),
            provider=_text(data.get("provider")),
            is_default=bool(data.get("is_default")),
        )

    @property
    def registry(self) -> str:
        """The build job's `registry` input.

        Zadig compares it to exactly RegAddr + "/" + Namespace.
        """
        return f"{self.address}/{self.namespace}"
