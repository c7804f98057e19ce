"""Typed results of the Zadig OpenAPI (the client never hands raw dicts to callers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple


@dataclass(frozen=True)
class DeployRequest:
    """Everything one build-and-deploy run of a custom workflow needs.

    Produced by the catalog (`Catalog.plan`), consumed by `ZadigClient.trigger_deploy`, which
    always sends *both* the build and the deploy job: Zadig silently skips a job left out of
    `inputs`, so a deploy that builds nothing cannot be expressed.
    """

    project_key: str
    workflow_key: str
    build_job: str
    deploy_job: str
    registry: str
    codehost_name: str
    repo_namespace: str
    repo_name: str
    service_name: str
    service_module: str
    branch: str
    env_name: str
    production: bool = False


# -- task status ------------------------------------------------------------------------------
# Zadig's own CompletedStatus()/FailedStatus() (aslan config/consts.go). "reject" (approval
# refused) is terminal too, although WorkflowTask.Finished() forgets it.
TERMINAL_STATUSES = frozenset({"passed", "failed", "timeout", "cancelled", "reject"})
FAILED_STATUSES = frozenset({"failed", "timeout", "cancelled", "reject"})


def _time(value: Any) -> Optional[int]:
    """Unix seconds; Zadig omits (omitempty) or zeroes a time that has not happened yet."""
    try:
        return int(value) or None
    except (TypeError, ValueError):
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
class Job:
    name: str  # Zadig's generated job-task name, e.g. "a-myapp-1-build-myapps"
    type: str
    status: str
    error: str = ""
    start_time: Optional[int] = None
    end_time: Optional[int] = None
    display_name: str = ""  # the workflow's job name ("build"), what people recognise
    services: Tuple[str, ...] = ()  # service names from the build/deploy spec

    @classmethod
    def from_api(cls, data: Dict[str, Any]) -> "Job":
        name = _text(data.get("name"))
        spec = _object(data.get("spec"))
        services = [_text(spec.get("service_name"))]
        services += [_text(s.get("service_name")) for s in _items(spec.get("service_and_images"))]
        return cls(
            name=name,
            type=_text(data.get("type")),
            status=_text(data.get("status")),
            error=_text(data.get("error")),
            start_time=_time(data.get("start_time")),
            end_time=_time(data.get("end_time")),
            display_name=_text(data.get("display_name") or data.get("origin_name")) or name,
            services=tuple(dict.fromkeys(x for x in services if x)),
        )


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
