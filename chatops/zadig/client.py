"""Async client for Zadig's custom-workflow OpenAPI (v1.18+ names).

Protocol notes live in docs/zadig-openapi.md; the section numbers below
refer to it. Every call goes through `ZadigClient._request`, which adds the token and the
timeout, retries reads only, and turns every failure into one of `chatops.zadig.errors`.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

import httpx

from chatops.zadig.errors import (
    NO_DOCUMENTS,
    ZadigAPIError,
    ZadigAuthError,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from chatops.zadig.models import (
    DeployRequest,
    EnvironmentInfo,
    Project,
    RegistryInfo,
    RollbackRequest,
    ServiceInfo,
    Task,
    TaskPage,
    TaskSummary,
    TriggeredTask,
    WorkflowDetail,
    WorkflowSummary,
)

if TYPE_CHECKING:
    from chatops.settings import Settings

TASK_PATH = "/openapi/workflows/custom/task"
# First pause before a read is retried, doubled per retry: 0.3 s, 0.6 s ... a chat user waits.
RETRY_DELAY_SECONDS = 0.3
_PROJECT_PAGE_SIZE = 50
_GATEWAY_DOWN = (502, 503, 504)  # answered by a proxy in front of Zadig, not by Zadig


class ZadigClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        read_retries: int = 2,
        retry_delay: float = RETRY_DELAY_SECONDS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("Zadig base_url must start with http:// or https://")
        token = (token or "").strip()
        # Zadig's gateway splits the header on a space and wants exactly "Bearer <token>".
        if not token or any(ch.isspace() for ch in token):
            raise ValueError("Zadig API token must be a non-empty string without spaces")
        self._token = token
        self._timeout = httpx.Timeout(timeout)
        self._read_retries = max(0, read_retries)
        self._retry_delay = retry_delay
        self._sleep = sleep
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport)

    @classmethod
    def from_settings(
        cls,
        settings: "Settings",
        *,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        **kw: Any,
    ) -> "ZadigClient":
        """The client for the configured Zadig (base URL, token, timeout)."""
        return cls(
            settings.zadig_base_url,
            settings.zadig_token,
            timeout=settings.zadig_timeout,
            transport=transport,
            **kw,
        )

    def __repr__(self) -> str:  # never show the token
        return f"ZadigClient({str(self._http.base_url)!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "ZadigClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- tasks -------------------------------------------------------------------------------

    async def trigger_deploy(self, req: DeployRequest) -> TriggeredTask:
        """Start one build+deploy task (docs/zadig-openapi.md §3.1).

        Never retried: a retry could deploy twice.
        """
        _require(
            req, "project_key", "workflow_key", "build_job", "deploy_job", "branch", "env_name"
        )
        if not req.services:
            raise ValueError("DeployRequest is missing services")
        for service in req.services:
            _require(service, "service_name", "service_module", "repo_name")
        inputs: List[Dict[str, Any]] = [
            {
                "job_name": req.build_job,
                "job_type": "zadig-build",
                "parameters": {
                    "registry": req.registry,
                    "service_list": [
                        {
                            "service_name": s.service_name,
                            "service_module": s.service_module,
                            "repo_info": [
                                {
                                    "codehost_name": req.codehost_name,
                                    "repo_namespace": req.repo_namespace,
                                    "repo_name": s.repo_name,
                                    "branch": req.branch,
                                }
                            ],
                        }
                        for s in req.services
                    ],
                },
            },
            # Empty image_name: the deploy job takes the image from the build job.
            {
                "job_name": req.deploy_job,
                "job_type": "zadig-deploy",
                "parameters": {
                    "env_name": req.env_name,
                    "service_list": [
                        {
                            "service_name": s.service_name,
                            "service_module": s.service_module,
                            "image_name": "",
                        }
                        for s in req.services
                    ],
                },
            },
        ]
        return await self._trigger(req.project_key, req.workflow_key, inputs, req.approval_jobs)

    async def trigger_rollback(self, req: RollbackRequest) -> TriggeredTask:
        """Start a deploy-only task that puts the given images back (docs/zadig-openapi.md
        §3.1: the deploy job's ``image_name`` is used as is). Never retried."""
        _require(req, "project_key", "workflow_key", "deploy_job", "env_name")
        if not req.images or any(not i.image for i in req.images):
            raise ValueError("RollbackRequest needs an image for every service")
        inputs: List[Dict[str, Any]] = [
            {
                "job_name": req.deploy_job,
                "job_type": "zadig-deploy",
                "parameters": {
                    "env_name": req.env_name,
                    "service_list": [
                        {
                            "service_name": i.service_name,
                            "service_module": i.service_module,
                            "image_name": i.image,
                        }
                        for i in req.images
                    ],
                },
            }
        ]
        return await self._trigger(req.project_key, req.workflow_key, inputs, req.approval_jobs)

    async def _trigger(
        self,
        project_key: str,
        workflow_key: str,
        inputs: List[Dict[str, Any]],
        approval_jobs: Tuple[str, ...],
    ) -> TriggeredTask:
        # A job missing from inputs is skipped (v4.0+) or dropped: the workflow's own approval
        # jobs are listed with empty parameters so Zadig keeps them (v4.1.0+).
        inputs = inputs + [
            {"job_name": name, "job_type": "approval", "parameters": {}} for name in approval_jobs
        ]
        body = {"project_key": project_key, "workflow_key": workflow_key, "inputs": inputs}
        data = _expect(await self._request("POST", TASK_PATH, json=body, idempotent=False), dict)
        # The response's workflow_name carries the workflow *key* here (unlike GET task).
        if not isinstance(data.get("task_id"), int) or isinstance(data["task_id"], bool):
            _bad_shape("the trigger response has no task_id")
        return TriggeredTask(
            project_key=str(data.get("project_name") or project_key),
            workflow_key=str(data.get("workflow_name") or workflow_key),
            task_id=data["task_id"],
        )

    async def update_remark(self, workflow_key: str, task_id: int, remark: str) -> None:
        """Write the task's remark (v3.3.0+, docs/zadig-task-operations.md §7)."""
        path = f"/openapi/workflows/custom/{_seg(workflow_key)}/task/{int(task_id)}"
        await self._request("PUT", path, json={"remark": remark}, idempotent=False)

    async def retry_task(self, workflow_key: str, task_id: int, project_key: str) -> None:
        """Restart a failed/timeout/cancelled/reject task in place, same task id
        (docs/zadig-task-operations.md §3). Never retried: it could run twice."""
        path = f"/openapi/workflows/custom/{_seg(workflow_key)}/task/{int(task_id)}"
        await self._request("POST", path, params={"projectKey": project_key}, idempotent=False)

    async def approve_job(
        self, workflow_key: str, task_id: int, job_name: str, approve: bool, comment: str = ""
    ) -> None:
        """Vote on a task's native approval as the API token's user (§1.4). ``job_name`` is the
        job-task name from the task detail (the stage name before v3.1)."""
        body = {
            "workflow_key": workflow_key,
            "task_id": int(task_id),
            "stage_name": job_name,
            "approve": bool(approve),
            "comment": comment,
        }
        await self._request("POST", f"{TASK_PATH}/approve", json=body, idempotent=False)

    async def job_log(self, workflow_key: str, task_id: int, job_name: str) -> str:
        """A finished job's whole log as text (v3.4+, §2.1); empty while it runs. Servers
        without the logs API answer 404 (ZadigNotFound)."""
        path = f"/openapi/logs/log/v4/workflow/{_seg(workflow_key)}/{int(task_id)}/{_seg(job_name)}"
        text: str = await self._request("GET", path, idempotent=True, as_text=True)
        return text

    async def get_task(self, workflow_key: str, task_id: int) -> Task:
        params = {"taskId": str(int(task_id)), "workflowKey": workflow_key}
        data = _expect(await self._request("GET", TASK_PATH, params=params, idempotent=True), dict)
        return Task.from_api(data)

    async def cancel_task(self, workflow_key: str, task_id: int) -> None:
        """Cancel a task; a passed task raises ZadigAPIError with `is_already_finished`."""
        # v3.4+ reads the query, v1.18-v3.3 only the JSON body (and 400s without one): send both.
        await self._request(
            "DELETE",
            TASK_PATH,
            params={"taskId": str(int(task_id)), "workflowKey": workflow_key},
            json={"task_id": int(task_id), "workflow_key": workflow_key},
            idempotent=False,
        )

    async def list_tasks(
        self, workflow_key: str, project_key: str, page_num: int = 1, page_size: int = 10
    ) -> TaskPage:
        """A page of a workflow's task history, newest first (docs/zadig-openapi.md §3.4)."""
        params = {"projectKey": project_key, "pageNum": page_num, "pageSize": page_size}
        path = f"/openapi/workflows/custom/{_seg(workflow_key)}/tasks"
        data = _expect(await self._request("GET", path, params=params, idempotent=True), dict)
        tasks = tuple(
            TaskSummary.from_api(t)
            for t in _expect(data.get("workflow_tasks"), list)
            if isinstance(t, dict)
        )
        return TaskPage(total=int(data.get("total") or 0), tasks=tasks)

    async def latest_task(self, workflow_key: str, project_key: str) -> Optional[Task]:
        page = await self.list_tasks(workflow_key, project_key, page_num=1, page_size=1)
        if not page.tasks:
            return None
        return await self.get_task(workflow_key, page.tasks[0].task_id)

    # -- discovery (docs/zadig-openapi.md §4, §3.7) --------------------------------------------

    async def list_projects(self) -> List[Project]:
        projects: List[Project] = []
        page = 1
        while True:
            data = _expect(
                await self._request(
                    "GET",
                    "/openapi/projects/project",
                    params={"pageNum": page, "pageSize": _PROJECT_PAGE_SIZE},
                    idempotent=True,
                ),
                dict,
            )
            items = [p for p in _expect(data.get("projects"), list) if isinstance(p, dict)]
            projects.extend(Project.from_api(p) for p in items)
            # A short page also ends the loop if a server ignores pageNum.
            if len(items) < _PROJECT_PAGE_SIZE or len(projects) >= int(data.get("total") or 0):
                return projects
            page += 1

    async def list_workflows(self, project_key: str) -> List[WorkflowSummary]:
        data = _expect(
            await self._request(
                "GET", "/openapi/workflows", params={"projectKey": project_key}, idempotent=True
            ),
            dict,
        )
        return [
            WorkflowSummary.from_api(w)
            for w in _expect(data.get("workflows"), list)
            if isinstance(w, dict)
        ]

    async def get_workflow(self, workflow_key: str, project_key: str) -> WorkflowDetail:
        data = _expect(
            await self._request(
                "GET",
                f"/openapi/workflows/custom/{_seg(workflow_key)}/detail",
                params={"projectKey": project_key},
                idempotent=True,
            ),
            dict,
        )
        return WorkflowDetail.from_api(data)

    async def list_environments(self, project_key: str) -> List[EnvironmentInfo]:
        data = await self._request(
            "GET", "/openapi/environments", params={"projectKey": project_key}, idempotent=True
        )
        return [EnvironmentInfo.from_api(e) for e in _expect(data, list) if isinstance(e, dict)]

    async def list_services(self, project_key: str) -> List[ServiceInfo]:
        data = await self._request(
            "GET",
            "/openapi/service/yaml/services",
            params={"projectKey": project_key},
            idempotent=True,
        )
        return [ServiceInfo.from_api(s) for s in _expect(data, list) if isinstance(s, dict)]

    async def list_registries(self) -> List[RegistryInfo]:
        data = await self._request("GET", "/openapi/system/registry", idempotent=True)
        return [RegistryInfo.from_api(r) for r in _expect(data, list) if isinstance(r, dict)]

    # -- transport ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Dict[str, Any]] = None,
        json: Any = None,
        idempotent: bool,
        as_text: bool = False,
    ) -> Any:
        """Send one call and return its decoded JSON, or raise a ZadigError.

        Only idempotent reads are retried (connect errors, timeouts, 5xx other than "not
        found"); a trigger or cancel that timed out may already have happened on the server.
        """
        attempts = 1 + (self._read_retries if idempotent else 0)
        accept = "text/plain" if as_text else "application/json"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": accept}
        for attempt in range(attempts):
            if attempt:
                await self._sleep(self._retry_delay * 2 ** (attempt - 1))
            cause: Optional[Exception] = None
            error: ZadigError
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, headers=headers, timeout=self._timeout
                )
            except httpx.TimeoutException as exc:
                cause, error = (
                    exc,
                    ZadigTimeout(
                        f"Zadig did not answer {method} {path} in time ({type(exc).__name__})",
                        request_sent=not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)),
                    ),
                )
            except httpx.TransportError as exc:
                cause, error = (
                    exc,
                    ZadigUnavailable(
                        self._scrub(
                            f"cannot reach Zadig for {method} {path}: {type(exc).__name__} {exc}"
                        ),
                        request_sent=not isinstance(exc, httpx.ConnectError),
                    ),
                )
            else:
                if response.is_success:
                    return response.text if as_text else self._decode(response)
                error = self._error(response)
                if response.status_code < 500 or isinstance(error, ZadigNotFound):
                    raise error
        raise error from cause

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise ZadigAPIError(
                response.status_code,
                "unexpected response",
                self._scrub(f"not JSON: {response.text[:200]!r}"),
                status_code=response.status_code,
            ) from None

    def _error(self, response: httpx.Response) -> ZadigError:
        status = response.status_code
        text = self._scrub(response.text.strip())
        try:
            body = jsonlib.loads(text) if text else None
        except ValueError:
            body = None
        if status in (401, 403):
            # Empty body, except MFA denials: {"reason": "mfa_verification_required"}.
            reason = body.get("reason") if isinstance(body, dict) else None
            what = "rejected the API token" if status == 401 else "denied this API token access"
            return ZadigAuthError(
                f"Zadig {what} (HTTP {status})" + (f": {reason}" if reason else ""),
                status_code=status,
            )
        if isinstance(body, dict) and ("code" in body or "description" in body):
            # {"type":"error","message","code","description","extra"} (6xxx/7xxx as HTTP 400) or
            # the plain-Go-error form {"message":"Internal Error: ","code":500,"description"}.
            try:
                code = int(body.get("code") or status)
            except (TypeError, ValueError):
                code = status
            description = str(body.get("description") or "")
            cls = ZadigNotFound if NO_DOCUMENTS in description else ZadigAPIError
            return cls(code, str(body.get("message") or ""), description, status_code=status)
        if status == 404:  # aslan's router: text/plain "Invalid path: <path>"
            return ZadigNotFound(404, "Not Found", text[:200], status_code=status)
        if status in _GATEWAY_DOWN:
            return ZadigUnavailable(f"Zadig is unavailable (HTTP {status})", status_code=status)
        if status == 400 and not text:  # gin's BindQuery/BindJSON failure writes no body
            return ZadigAPIError(400, "Bad Request", "bad request", status_code=status)
        return ZadigAPIError(status, response.reason_phrase, text[:200], status_code=status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")


def _require(obj: Any, *names: str) -> None:
    missing = [name for name in names if not str(getattr(obj, name) or "").strip()]
    if missing:
        raise ValueError(f"{type(obj).__name__} is missing {', '.join(missing)}")


def _seg(value: str) -> str:
    """A path segment; workflow keys are plain slugs, but never let one change the path."""
    text = quote(str(value), safe="", errors="replace")  # a lone surrogate cannot raise here
    # "." and ".." would be removed from the path by URL normalisation.
    return {".": "%2E", "..": "%2E%2E"}.get(text, text)


def _expect(data: Any, kind: type) -> Any:
    """The decoded body (or a field of it) if it has the expected JSON type.

    A null list counts as empty.
    """
    if data is None and kind is list:
        return []
    if not isinstance(data, kind):
        _bad_shape(f"expected a JSON {'object' if kind is dict else 'array'}")
    return data


def _bad_shape(problem: str) -> Any:
    raise ZadigAPIError(200, "unexpected response", problem, status_code=200)
