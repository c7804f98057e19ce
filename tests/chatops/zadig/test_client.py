"""ZadigClient against httpx.MockTransport: the exact requests sent and every error mapping."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chatops.zadig import (
    DeployRequest,
    RollbackRequest,
    ServiceBuild,
    ServiceImage,
    Task,
    TriggeredTask,
    ZadigAPIError,
    ZadigAuthError,
    ZadigClient,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from tests.fakes.zadig import FakeZadig, ok

BASE = "https://zadig.example.com"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiYm90In0.c2VjcmV0LXNpZ25hdHVyZQ"
NO_DOCS = {
    "message": "Internal Error: ",
    "code": 500,
    "description": "mongo: no documents in result",
}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.fixture
def fake() -> FakeZadig:
    return FakeZadig()


@pytest.fixture
async def zadig(fake: FakeZadig):
    # Retried reads do not pause here: the tests do not need to wait for the back-off.
    async with ZadigClient(
        BASE, TOKEN, timeout=3.5, retry_delay=0, transport=httpx.MockTransport(fake.handle)
    ) as c:
        yield c


def deploy_request(**overrides: Any) -> DeployRequest:
    fields = dict(
        project_key="demo",
        workflow_key="demo-dev",
        build_job="build",
        deploy_job="deploy",
        registry="https://harbor.example.com/library",
        codehost_name="gitlab",
        repo_namespace="team",
        services=(ServiceBuild("order-service", "order", "order"),),
        branch="feature-x",
        env_name="dev",
    )
    fields.update(overrides)
    return DeployRequest(**fields)


# -- requests on the wire --------------------------------------------------------------------


async def test_trigger_deploy_sends_build_and_deploy_inputs(zadig, fake):
    fake.reply(ok({"project_name": "demo", "workflow_name": "demo-dev", "task_id": 42}))

    task = await zadig.trigger_deploy(deploy_request())

    assert task == TriggeredTask(project_key="demo", workflow_key="demo-dev", task_id=42)
    req = fake.last
    assert (req.method, req.url.path, req.url.query) == (
        "POST",
        "/openapi/workflows/custom/task",
        b"",
    )
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.extensions["timeout"] == {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5}
    assert body_of(req) == {
        "project_key": "demo",
        "workflow_key": "demo-dev",
        "inputs": [
            {
                "job_name": "build",
                "job_type": "zadig-build",
                "parameters": {
                    "registry": "https://harbor.example.com/library",
                    "service_list": [
                        {
                            "service_name": "order-service",
                            "service_module": "order",
                            "repo_info": [
                                {
                                    "codehost_name": "gitlab",
                                    "repo_namespace": "team",
                                    "repo_name": "order",
                                    "branch": "feature-x",
                                }
                            ],
                        }
                    ],
                },
            },
            {
                "job_name": "deploy",
                "job_type": "zadig-deploy",
                "parameters": {
                    "env_name": "dev",
                    "service_list": [
                        {
                            "service_name": "order-service",
                            "service_module": "order",
                            "image_name": "",
                        }
                    ],
                },
            },
        ],
    }


@pytest.mark.parametrize("field", ["build_job", "deploy_job", "branch", "env_name"])
async def test_trigger_deploy_rejects_incomplete_request_before_sending(zadig, fake, field):
    fake.reply(ok({"project_name": "demo", "workflow_name": "demo-dev", "task_id": 1}))
    with pytest.raises(ValueError, match=field):
        await zadig.trigger_deploy(deploy_request(**{field: " "}))
    assert fake.requests == []


async def test_trigger_response_without_task_id_is_an_api_error(zadig, fake):
    fake.reply(ok({"message": "success"}))
    with pytest.raises(ZadigAPIError, match="task_id"):
        await zadig.trigger_deploy(deploy_request())


async def test_trigger_deploy_refuses_a_request_without_services(zadig, fake):
    with pytest.raises(ValueError, match="services"):
        await zadig.trigger_deploy(deploy_request(services=()))
    with pytest.raises(ValueError, match="repo_name"):
        await zadig.trigger_deploy(deploy_request(services=(ServiceBuild("a", "a", ""),)))
    assert fake.requests == []


async def test_several_services_build_and_deploy_in_one_task(zadig, fake):
    fake.reply(ok({"project_name": "demo", "workflow_name": "demo-dev", "task_id": 7}))
    services = (ServiceBuild("order-service", "order", "order"), ServiceBuild("gw", "gw", "edge"))

    await zadig.trigger_deploy(deploy_request(services=services))

    build, deploy = body_of(fake.last)["inputs"]
    assert [s["service_name"] for s in build["parameters"]["service_list"]] == [
        "order-service",
        "gw",
    ]
    assert build["parameters"]["service_list"][1]["repo_info"][0]["repo_name"] == "edge"
    assert deploy["parameters"]["service_list"] == [
        {"service_name": "order-service", "service_module": "order", "image_name": ""},
        {"service_name": "gw", "service_module": "gw", "image_name": ""},
    ]


async def test_approval_jobs_are_listed_so_zadig_keeps_them(zadig, fake):
    fake.reply(ok({"project_name": "demo", "workflow_name": "demo-dev", "task_id": 8}))

    await zadig.trigger_deploy(deploy_request(approval_jobs=("sign-off",)))

    assert body_of(fake.last)["inputs"][-1] == {
        "job_name": "sign-off",
        "job_type": "approval",
        "parameters": {},
    }


async def test_trigger_rollback_sends_only_the_deploy_job_with_images(zadig, fake):
    fake.reply(ok({"project_name": "demo", "workflow_name": "demo-dev-rollback", "task_id": 3}))
    req = RollbackRequest(
        project_key="demo",
        workflow_key="demo-dev-rollback",
        deploy_job="deploy",
        env_name="dev",
        images=(ServiceImage("order-service", "order", "harbor.example.com/library/order:v1"),),
    )

    task = await zadig.trigger_rollback(req)

    assert task.task_id == 3
    assert body_of(fake.last) == {
        "project_key": "demo",
        "workflow_key": "demo-dev-rollback",
        "inputs": [
            {
                "job_name": "deploy",
                "job_type": "zadig-deploy",
                "parameters": {
                    "env_name": "dev",
                    "service_list": [
                        {
                            "service_name": "order-service",
                            "service_module": "order",
                            "image_name": "harbor.example.com/library/order:v1",
                        }
                    ],
                },
            }
        ],
    }
    with pytest.raises(ValueError, match="image"):
        await zadig.trigger_rollback(
            RollbackRequest("demo", "w", "deploy", "dev", (ServiceImage("a", "a", ""),))
        )


async def test_update_remark_puts_the_remark_on_the_task(zadig, fake):
    fake.reply(ok({"message": "success"}))

    await zadig.update_remark("demo-dev", 42, "由 张三 在钉钉发起")

    assert (fake.last.method, fake.last.url.path) == (
        "PUT",
        "/openapi/workflows/custom/demo-dev/task/42",
    )
    assert body_of(fake.last) == {"remark": "由 张三 在钉钉发起"}


async def test_get_task_queries_by_task_id_and_workflow_key(zadig, fake):
    fake.reply(
        ok(
            {
                "task_id": 7,
                "workflow_key": "demo-dev",
                "workflow_name": "Demo Dev",
                "project_key": "demo",
                "status": "waiting",
                "create_time": 1724300000,
            }
        )
    )

    task = await zadig.get_task("demo-dev", 7)

    assert fake.last.method == "GET"
    assert fake.last.url.path == "/openapi/workflows/custom/task"
    assert dict(fake.last.url.params) == {"taskId": "7", "workflowKey": "demo-dev"}
    assert fake.last.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (task.task_id, task.workflow_name, task.status) == (7, "Demo Dev", "waiting")
    assert not task.is_terminal


async def test_cancel_sends_query_for_new_servers_and_body_for_old_ones(zadig, fake):
    fake.reply(ok({"message": "success"}))

    assert await zadig.cancel_task("demo-dev", 42) is None

    req = fake.last
    assert (req.method, req.url.path) == ("DELETE", "/openapi/workflows/custom/task")
    assert dict(req.url.params) == {"taskId": "42", "workflowKey": "demo-dev"}
    assert body_of(req) == {"task_id": 42, "workflow_key": "demo-dev"}
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_list_tasks_and_latest_task(zadig, fake):
    history = {
        "total": 57,
        "workflow_tasks": [
            {
                "workflow_key": "demo-dev",
                "workflow_name": "Demo Dev",
                "project_key": "demo",
                "task_id": 57,
                "create_time": 1724300000,
                "task_creator": "alice",
                "status": "passed",
            }
        ],
    }
    detail = {
        "task_id": 57,
        "workflow_key": "demo-dev",
        "workflow_name": "Demo Dev",
        "project_key": "demo",
        "status": "passed",
        "start_time": 10,
        "end_time": 70,
    }
    fake.reply(ok(history), ok(history), ok(detail))

    page = await zadig.list_tasks("demo-dev", "demo", page_num=2, page_size=5)
    assert fake.last.url.path == "/openapi/workflows/custom/demo-dev/tasks"
    assert dict(fake.last.url.params) == {"projectKey": "demo", "pageNum": "2", "pageSize": "5"}
    assert page.total == 57
    assert [(t.task_id, t.status, t.task_creator) for t in page.tasks] == [(57, "passed", "alice")]

    latest = await zadig.latest_task("demo-dev", "demo")
    assert dict(fake.requests[1].url.params) == {
        "projectKey": "demo",
        "pageNum": "1",
        "pageSize": "1",
    }
    assert dict(fake.requests[2].url.params) == {"taskId": "57", "workflowKey": "demo-dev"}
    assert latest is not None and latest.duration_seconds == 60


async def test_latest_task_is_none_for_a_workflow_never_run(zadig, fake):
    fake.reply(ok({"total": 0, "workflow_tasks": None}))
    assert await zadig.latest_task("demo-dev", "demo") is None
    assert len(fake.requests) == 1


async def test_list_projects_pages_through_all_projects(zadig, fake):
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["pageNum"])
        size = int(request.url.params["pageSize"])
        keys = [f"p{i}" for i in range(60)][(number - 1) * size : number * size]
        return ok(
            {
                "total": 60,
                "projects": [
                    {"project_key": k, "project_name": k.upper(), "deploy_type": "k8s"}
                    for k in keys
                ],
            }
        )

    fake.reply(page)

    projects = await zadig.list_projects()

    assert [p.key for p in projects] == [f"p{i}" for i in range(60)]
    assert projects[0].name == "P0" and projects[0].deploy_type == "k8s"
    assert [r.url.path for r in fake.requests] == ["/openapi/projects/project"] * 2
    assert [r.url.params["pageNum"] for r in fake.requests] == ["1", "2"]


async def test_list_workflows(zadig, fake):
    fake.reply(
        ok(
            {
                "workflows": [
                    {
                        "workflow_key": "demo-dev",
                        "workflow_name": "Demo Dev",
                        "update_by": "admin",
                        "update_time": 1686217885,
                        "type": "custom",
                    },
                    {"workflow_key": "old", "workflow_name": "old", "type": "product"},
                ]
            }
        )
    )

    workflows = await zadig.list_workflows("demo")

    assert (fake.last.url.path, dict(fake.last.url.params)) == (
        "/openapi/workflows",
        {"projectKey": "demo"},
    )
    assert [(w.key, w.name, w.is_custom) for w in workflows] == [
        ("demo-dev", "Demo Dev", True),
        ("old", "old", False),
    ]


async def test_get_workflow_exposes_build_and_deploy_jobs(zadig, fake):
    fake.reply(
        ok(
            {
                "workflow_key": "demo-dev",
                "workflow_name": "Demo Dev",
                "project_key": "demo",
                "stages": [
                    {"name": "approve", "jobs": [{"name": "ok", "type": "approval", "spec": {}}]},
                    {
                        "name": "build",
                        "parallel": True,
                        "jobs": [
                            {
                                "name": "build-svc",
                                "type": "zadig-build",
                                "spec": {"docker_registry_id": "r1"},
                            }
                        ],
                    },
                    {
                        "name": "deploy",
                        "jobs": [
                            {
                                "name": "deploy-dev",
                                "type": "zadig-deploy",
                                "spec": {"env": "dev", "source": "fromjob"},
                            }
                        ],
                    },
                ],
            }
        )
    )

    wf = await zadig.get_workflow("demo-dev", "demo")

    assert fake.last.url.path == "/openapi/workflows/custom/demo-dev/detail"
    assert dict(fake.last.url.params) == {"projectKey": "demo"}
    assert wf.jobs == (
        ("approve", "ok", "approval"),
        ("build", "build-svc", "zadig-build"),
        ("deploy", "deploy-dev", "zadig-deploy"),
    )
    assert (wf.build_job_name, wf.deploy_job_name, wf.deploy_env) == (
        "build-svc",
        "deploy-dev",
        "dev",
    )


async def test_workflow_without_deploy_job_has_no_deploy_job_name(zadig, fake):
    fake.reply(ok({"workflow_key": "b", "stages": [{"name": "s", "jobs": None}]}))
    wf = await zadig.get_workflow("b", "demo")
    assert (wf.build_job_name, wf.deploy_job_name, wf.deploy_env, wf.jobs) == (None, None, None, ())


async def test_list_environments_reads_bare_array_and_env_name_alias(zadig, fake):
    fake.reply(
        ok(
            [
                {"envName": "开发环境", "env_key": "dev", "production": False, "status": "running"},
                {"env_key": "prod", "production": True, "status": "unstable"},
            ]
        )
    )

    envs = await zadig.list_environments("demo")

    assert fake.last.url.path == "/openapi/environments"
    assert dict(fake.last.url.params) == {"projectKey": "demo"}
    assert [(e.key, e.alias, e.production, e.status) for e in envs] == [
        ("dev", "开发环境", False, "running"),
        ("prod", "", True, "unstable"),
    ]


async def test_list_services_takes_modules_from_containers(zadig, fake):
    fake.reply(
        ok(
            [
                {
                    "service_name": "order-service",
                    "source": "gitlab",
                    "type": "k8s",
                    "containers": [
                        {"name": "order", "image": "x", "image_name": "order"},
                        {"name": "order-sidecar", "image": "y"},
                    ],
                }
            ]
        )
    )

    services = await zadig.list_services("demo")

    assert fake.last.url.path == "/openapi/service/yaml/services"
    assert dict(fake.last.url.params) == {"projectKey": "demo"}
    assert [(s.name, s.modules, s.type) for s in services] == [
        ("order-service", ("order", "order-sidecar"), "k8s")
    ]


async def test_list_registries_builds_the_exact_registry_string(zadig, fake):
    fake.reply(
        ok(
            [
                {
                    "registry_id": "r1",
                    "address": "https://harbor.example.com",
                    "provider": "harbor",
                    "region": "",
                    "namespace": "library",
                    "is_default": True,
                }
            ]
        )
    )

    [registry] = await zadig.list_registries()

    assert (fake.last.method, fake.last.url.path) == ("GET", "/openapi/system/registry")
    assert fake.last.url.query == b""
    assert registry.registry == "https://harbor.example.com/library"
    assert registry.is_default


async def test_base_url_path_prefix_is_kept(fake):
    fake.reply(ok([]))
    async with ZadigClient(
        BASE + "/zadig/", TOKEN, transport=httpx.MockTransport(fake.handle)
    ) as c:
        await c.list_registries()
    assert fake.last.url.path == "/zadig/openapi/system/registry"


# -- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failures_with_empty_body(zadig, fake, status):
    fake.reply(httpx.Response(status))
    with pytest.raises(ZadigAuthError) as caught:
        await zadig.get_task("demo-dev", 1)
    assert caught.value.status_code == status
    assert f"HTTP {status}" in str(caught.value)
    assert len(fake.requests) == 1


async def test_unknown_workflow_6542_is_not_found(zadig, fake):
    fake.reply(
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "查询workflow失败",
                "code": 6542,
                "description": "mongo: no documents in result",
                "extra": {},
            },
        )
    )
    with pytest.raises(ZadigNotFound) as caught:
        await zadig.trigger_deploy(deploy_request())
    err = caught.value
    assert (err.code, err.message, err.description, err.status_code) == (
        6542,
        "查询workflow失败",
        "mongo: no documents in result",
        400,
    )


async def test_other_6xxx_error_is_api_error_not_not_found(zadig, fake):
    fake.reply(
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "创建工作流任务失败",
                "code": 6160,
                "description": "workflow is disabled",
                "extra": {},
            },
        )
    )
    with pytest.raises(ZadigAPIError) as caught:
        await zadig.trigger_deploy(deploy_request())
    assert not isinstance(caught.value, ZadigNotFound)
    assert (caught.value.code, caught.value.description) == (6160, "workflow is disabled")


async def test_cancel_of_passed_task_is_already_finished(zadig, fake):
    fake.reply(
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "取消工作流任务失败",
                "code": 6163,
                "description": "task: demo-dev:42 is passed, cannot cancel",
                "extra": {},
            },
        )
    )
    with pytest.raises(ZadigAPIError) as caught:
        await zadig.cancel_task("demo-dev", 42)
    assert caught.value.is_already_finished
    assert not isinstance(caught.value, ZadigNotFound)
    assert len(fake.requests) == 1


async def test_cancel_of_unknown_task_is_not_found_not_finished(zadig, fake):
    fake.reply(
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "取消工作流任务失败",
                "code": 6163,
                "description": "mongo: no documents in result",
                "extra": {},
            },
        )
    )
    with pytest.raises(ZadigNotFound) as caught:
        await zadig.cancel_task("demo-dev", 999)
    assert not caught.value.is_already_finished


async def test_unknown_task_500_is_not_found_and_not_retried(zadig, fake):
    fake.reply(httpx.Response(500, json=NO_DOCS))
    with pytest.raises(ZadigNotFound) as caught:
        await zadig.get_task("demo-dev", 999)
    assert (caught.value.code, caught.value.status_code) == (500, 500)
    assert len(fake.requests) == 1


async def test_bind_failure_400_with_empty_body(zadig, fake):
    fake.reply(httpx.Response(400))
    with pytest.raises(ZadigAPIError) as caught:
        await zadig.get_task("demo-dev", 1)
    assert type(caught.value) is ZadigAPIError
    assert (caught.value.code, caught.value.description) == (400, "bad request")


async def test_unknown_path_404_text_plain_is_not_found(zadig, fake):
    fake.reply(
        httpx.Response(
            404,
            text="Invalid path: /openapi/workflows/custom/x/detail",
            headers={"Content-Type": "text/plain"},
        )
    )
    with pytest.raises(ZadigNotFound) as caught:
        await zadig.get_workflow("x", "demo")
    assert caught.value.code == 404 and "Invalid path" in caught.value.description
    assert len(fake.requests) == 1


async def test_non_json_success_body_is_api_error(zadig, fake):
    fake.reply(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(ZadigAPIError, match="not JSON"):
        await zadig.list_registries()


async def test_wrong_json_shape_is_api_error(zadig, fake):
    fake.reply(ok({"message": "success"}))
    with pytest.raises(ZadigAPIError, match="array"):
        await zadig.list_environments("demo")


async def test_connect_error_is_unavailable_after_read_retries(zadig, fake):
    fake.reply(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ZadigUnavailable) as caught:
        await zadig.list_registries()
    assert not isinstance(caught.value, ZadigTimeout)
    assert len(fake.requests) == 3  # one try + read_retries=2


async def test_read_timeout_is_zadig_timeout(zadig, fake):
    fake.reply(httpx.ReadTimeout("timed out"))
    with pytest.raises(ZadigTimeout):
        await zadig.get_task("demo-dev", 1)
    assert len(fake.requests) == 3


async def test_get_is_retried_then_succeeds(zadig, fake):
    fake.reply(
        httpx.Response(503, text="upstream connect error"),
        httpx.ConnectError("reset"),
        ok({"task_id": 1, "workflow_key": "demo-dev", "project_key": "demo", "status": "running"}),
    )
    task = await zadig.get_task("demo-dev", 1)
    assert task.is_running
    assert len(fake.requests) == 3


async def test_plain_internal_error_is_api_error_after_retries(zadig, fake):
    fake.reply(
        httpx.Response(
            500,
            json={
                "message": "Internal Error: ",
                "code": 500,
                "description": "failed to list registries",
            },
        )
    )
    with pytest.raises(ZadigAPIError) as caught:
        await zadig.list_registries()
    assert type(caught.value) is ZadigAPIError
    assert (caught.value.code, caught.value.message) == (500, "Internal Error: ")
    assert len(fake.requests) == 3


async def test_no_retries_when_read_retries_is_zero(fake):
    fake.reply(httpx.ConnectError("refused"))
    async with ZadigClient(
        BASE, TOKEN, read_retries=0, transport=httpx.MockTransport(fake.handle)
    ) as c:
        with pytest.raises(ZadigUnavailable):
            await c.list_registries()
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "reply, expected",
    [
        (httpx.Response(502, text="Bad Gateway"), ZadigUnavailable),
        (httpx.ReadTimeout("timed out"), ZadigTimeout),
        (
            httpx.Response(
                500,
                json={
                    "message": "Internal Error: ",
                    "code": 500,
                    "description": "didn't find the specified image registry",
                },
            ),
            ZadigAPIError,
        ),
    ],
)
async def test_trigger_is_never_retried(zadig, fake, reply, expected):
    fake.reply(reply, ok({"project_name": "demo", "workflow_name": "demo-dev", "task_id": 2}))
    with pytest.raises(expected):
        await zadig.trigger_deploy(deploy_request())
    assert len(fake.requests) == 1


async def test_cancel_is_never_retried(zadig, fake):
    fake.reply(httpx.ReadTimeout("timed out"), ok({"message": "success"}))
    with pytest.raises(ZadigTimeout):
        await zadig.cancel_task("demo-dev", 3)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401),
        httpx.Response(403, json={"reason": "mfa_verification_required"}),
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "Bad Request",
                "code": 400,
                "description": f"token {TOKEN} is malformed",
                "extra": {},
            },
        ),
        httpx.Response(500, text=f"panic: bad header Bearer {TOKEN}"),
        httpx.Response(200, text=f"not json {TOKEN}"),
        httpx.ConnectError(f"refused for Bearer {TOKEN}"),
        httpx.ConnectTimeout("timed out"),
    ],
)
async def test_token_never_appears_in_errors(zadig, fake, reply):
    fake.reply(reply)
    with pytest.raises(ZadigError) as caught:
        await zadig.get_task("demo-dev", 1)
    err = caught.value
    assert TOKEN not in str(err) and TOKEN not in repr(err)
    assert TOKEN not in str(getattr(err, "description", ""))
    assert TOKEN not in repr(zadig)


def test_constructor_rejects_unusable_settings_without_echoing_the_token():
    with pytest.raises(ValueError, match="http"):
        ZadigClient("zadig.example.com", TOKEN)
    with pytest.raises(ValueError) as caught:
        ZadigClient(BASE, "Bearer " + TOKEN)  # the gateway wants exactly two header segments
    assert TOKEN not in str(caught.value)


# -- Task.from_api ---------------------------------------------------------------------------

# docs/zadig-openapi.md §3.2, trimmed to the fields the model reads plus some it must ignore.
TASK_SAMPLE = {
    "task_id": 42,
    "workflow_key": "build-deploy",
    "workflow_name": "Build & Deploy",
    "params": [{"name": "RELEASE_NOTE", "type": "string", "value": "from chatops"}],
    "status": "running",
    "reverted": False,
    "remark": "",
    "task_creator": "alice",
    "create_time": 1724300000,
    "start_time": 1724300001,
    "stages": [
        {
            "name": "build",
            "status": "passed",
            "start_time": 1724300001,
            "end_time": 1724300100,
            "parallel": True,
            "manual_exec": None,
            "error": "",
            "jobs": [
                {
                    "name": "a-myapp-1-build-myapps",
                    "key": "k",
                    "display_name": "build",
                    "origin_name": "build",
                    "type": "zadig-build",
                    "status": "passed",
                    "start_time": 1724300001,
                    "end_time": 1724300100,
                    "cost_seconds": 99,
                    "error": "",
                    "spec": {"image": "harbor.example.com/library/svc-a:20240822-42-feature-x"},
                }
            ],
        },
        {
            "name": "deploy",
            "status": "running",
            "start_time": 1724300100,
            "parallel": False,
            "manual_exec": None,
            "error": "",
            "jobs": [
                {
                    "name": "deploy-job-task",
                    "type": "zadig-deploy",
                    "status": "running",
                    "spec": {"env": "dev"},
                }
            ],
        },
    ],
    "project_key": "demo",
    "is_restart": False,
    "debug": False,
}


def test_task_from_docs_sample_while_running():
    task = Task.from_api(TASK_SAMPLE)

    assert (task.task_id, task.workflow_key, task.workflow_name, task.project_key) == (
        42,
        "build-deploy",
        "Build & Deploy",
        "demo",
    )
    assert (task.status, task.task_creator, task.create_time, task.start_time) == (
        "running",
        "alice",
        1724300000,
        1724300001,
    )
    assert task.end_time is None and task.error == ""  # omitted (omitempty)
    assert task.is_running and not task.is_terminal
    assert task.duration_seconds is None and task.failed_stage is None
    build, deploy = task.stages
    assert build.jobs[0].name == "a-myapp-1-build-myapps" and build.jobs[0].display_name == "build"
    assert (build.jobs[0].type, build.jobs[0].end_time) == ("zadig-build", 1724300100)
    assert deploy.end_time is None and deploy.jobs[0].start_time is None


def test_task_from_docs_sample_after_failure():
    failed = json.loads(json.dumps(TASK_SAMPLE))
    failed.update(status="failed", end_time=1724300160, error="deploy failed")
    failed["stages"][1].update(status="failed", end_time=1724300160, error="rollout timed out")

    task = Task.from_api(failed)

    assert task.is_terminal and not task.is_running
    assert task.duration_seconds == 159
    assert task.failed_stage is not None
    assert (task.failed_stage.name, task.failed_stage.error) == ("deploy", "rollout timed out")


def test_task_with_every_omitempty_field_missing():
    task = Task.from_api(
        {"task_id": 3, "workflow_key": "wf", "workflow_name": "WF", "project_key": "p"}
    )
    assert (task.status, task.task_creator, task.create_time, task.stages) == ("", "", None, ())
    assert not task.is_terminal and task.failed_stage is None


def test_task_from_pre_1_18_keys():
    task = Task.from_api(
        {
            "task_id": 5,
            "workflow_name": "build-deploy",
            "workflow_display_name": "Build & Deploy",
            "project_name": "demo",
            "status": "cancelled",
        }
    )
    assert (task.workflow_key, task.workflow_name, task.project_key) == (
        "build-deploy",
        "Build & Deploy",
        "demo",
    )
    assert task.is_terminal
