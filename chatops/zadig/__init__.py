"""Zadig custom-workflow OpenAPI: the async client, its typed results and its exceptions."""
from chatops.zadig.client import ZadigClient
from chatops.zadig.errors import (
    ZadigAPIError,
    ZadigAuthError,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from chatops.zadig.models import (
    FAILED_STATUSES,
    TERMINAL_STATUSES,
    DeployRequest,
    EnvironmentInfo,
    Job,
    Project,
    RegistryInfo,
    ServiceInfo,
    Stage,
    Task,
    TaskPage,
    TaskSummary,
    TriggeredTask,
    WorkflowDetail,
    WorkflowJob,
    WorkflowSummary,
)

__all__ = [
    "ZadigClient",
    "ZadigError", "ZadigAuthError", "ZadigAPIError", "ZadigNotFound", "ZadigUnavailable",
    "ZadigTimeout",
    "TERMINAL_STATUSES", "FAILED_STATUSES",
    "DeployRequest", "TriggeredTask", "Task", "Stage", "Job", "TaskSummary", "TaskPage",
    "Project", "WorkflowSummary", "WorkflowJob", "WorkflowDetail", "EnvironmentInfo",
    "ServiceInfo", "RegistryInfo",
]
