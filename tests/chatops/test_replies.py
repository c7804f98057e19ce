"""chatops/formatting.py: durations, links, task descriptions and Zadig error explanations."""

from __future__ import annotations

import copy
from typing import Any, Dict

import httpx
import pytest

from chatops.replies import (
    describe_result,
    describe_status,
    duration_text,
    explain_zadig_error,
    status_label,
    task_url,
)
from chatops.zadig import (
    ZadigAPIError,
    ZadigAuthError,
    ZadigClient,
    ZadigError,
    ZadigNotFound,
    ZadigTimeout,
    ZadigUnavailable,
)
from chatops.zadig.models import Task

# The sample response of docs/zadig-openapi.md §3.2, verbatim in shape.
SAMPLE: Dict[str, Any] = {
    "task_id": 42,
    "workflow_key": "build-deploy",
    "workflow_name": "Build & Deploy",
    "params": [
        {
            "name": "RELEASE_NOTE",
            "description": "",
            "type": "string",
            "value": "from chatops",
            "repo": None,
            "default": "",
            "is_credential": False,
        }
    ],
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
                    "key": "build",
                    "display_name": "build",
                    "origin_name": "build",
                    "type": "zadig-build",
                    "status": "passed",
                    "reverted": False,
                    "start_time": 1724300001,
                    "end_time": 1724300100,
                    "cost_seconds": 99,
                    "error": "",
                    "job_info": {},
                    "spec": {
                        "repos": [
                            {
                                "source": "gitlab",
                                "repo_owner": "team",
                                "repo_name": "svc-a",
                                "branch": "feature-x",
                            }
                        ],
                        "image": "harbor.example.com/library/svc-a:20240822-42-feature-x",
                        "service_name": "svc-a",
                        "service_module": "svc-a",
                        "envs": [],
                    },
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
                    "name": "a-myapp-1-deploy",
                    "type": "zadig-deploy",
                    "status": "running",
                    "spec": {
                        "env": "dev",
                        "env_alias": "",
                        "production": False,
                        "service_type": "k8s",
                        "deploy_contents": ["image"],
                        "service_and_images": [
                            {"service_name": "svc-a", "service_module": "svc-a", "image": "…"}
                        ],
                    },
                }
            ],
        },
    ],
    "project_key": "demo",
    "is_restart": False,
    "debug": False,
    "approval_ticket_id": "",
    "approval_id": "",
}
LINK = (
    "https://zadig.example.com/v1/projects/detail/demo/pipelines/custom/build-deploy/42"
    "?display_name=build-deploy"
)


def finished(status: str, *, stage_error: str = "", error: str = "") -> Task:
    data = copy.deepcopy(SAMPLE)
    data["status"] = status
    data["end_time"] = 1724300230
    data["stages"][1].update(status=status, end_time=1724300230, error=stage_error)
    if error:
        data["error"] = error
    return Task.from_api(data)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "未知"),
        (-1, "未知"),
        (0, "0秒"),
        (0.4, "0秒"),
        (59, "59秒"),
        (59.6, "1分00秒"),
        (60, "1分00秒"),
        (61, "1分01秒"),
        (229, "3分49秒"),
        (3599, "59分59秒"),
        (3600, "1小时00分"),
        (3661, "1小时01分"),
        (6 * 3600, "6小时00分"),
        (25 * 3600 + 60, "25小时01分"),
    ],
)
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_task_url():
    assert task_url("https://zadig.example.com/", "demo", "build-deploy", 42) == LINK
    assert task_url("http://z:8080", "商城", "a b", 1) == (
        "http://z:8080/v1/projects/detail/%E5%95%86%E5%9F%8E/pipelines/custom/a%20b/1"
        "?display_name=a%20b"
    )


def test_status_labels():
    assert status_label("waiting") == "排队中"
    assert status_label("wait_for_approval") == "等待审批"
    assert status_label("brand_new") == "brand_new"
    assert status_label("") == "未知" and status_label(None) == "未知"


def test_describe_status_of_the_docs_sample():
    task = Task.from_api(SAMPLE)
    assert describe_status(task, LINK, "svc-a", "dev") == (
        f"svc-a → dev（build-deploy #42）：执行中\n阶段：build ✅ → deploy 执行中\n详情：{LINK}"
    )
    assert describe_status(task, LINK).startswith("build-deploy（build-deploy #42）：执行中\n")


def test_describe_status_of_a_failed_task():
    task = finished("failed", stage_error="image pull backoff")
    assert describe_status(task, LINK, "svc-a", "dev") == (
        "svc-a → dev（build-deploy #42）：失败\n"
        "阶段：build ✅ → deploy ❌\n"
        "用时：3分49秒\n"
        "失败阶段：deploy（image pull backoff）\n"
        f"详情：{LINK}"
    )


def test_describe_status_without_stages():
    task = Task.from_api({"task_id": 3, "workflow_key": "w", "project_key": "p"})
    assert describe_status(task, "L") == "w（w #3）：未知\n详情：L"


def test_describe_result_passed():
    assert describe_result(finished("passed"), LINK, "svc-a", "dev") == (
        f"✅ 发布成功：svc-a → dev（build-deploy #42）\n用时：3分49秒\n详情：{LINK}"
    )


def test_describe_result_failed_names_the_stage():
    assert describe_result(finished("failed", stage_error="boom"), LINK, "svc-a", "dev") == (
        "❌ 发布失败：svc-a → dev（build-deploy #42）\n用时：3分49秒\n"
        f"失败阶段：deploy（boom）\n详情：{LINK}"
    )


def test_describe_result_task_error_without_failed_stage():
    data = copy.deepcopy(SAMPLE)
    data.update(status="timeout", error="task timeout", stages=[])
    assert describe_result(Task.from_api(data), LINK) == (
        f"⏰ 发布超时：build-deploy（build-deploy #42）\n用时：未知\n原因：task timeout\n"
        f"详情：{LINK}"
    )


# -- explain_zadig_error: each class, from the real client, never with the token ------------------

TOKEN = "tok-SECRET-9f8e7d6c5b4a"


async def error_from(reply) -> ZadigError:
    """The exception the real client raises for a reply that echoes the token back."""

    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply

    async with ZadigClient(
        "https://zadig.example.com", TOKEN, read_retries=0, transport=httpx.MockTransport(handle)
    ) as zadig:
        with pytest.raises(ZadigError) as info:
            await zadig.get_task("build-deploy", 42)
    return info.value


async def test_explain_auth_error():
    exc = await error_from(httpx.Response(401))
    assert isinstance(exc, ZadigAuthError)
    assert explain_zadig_error(exc, "查询任务") == (
        "查询任务失败：Zadig 拒绝了机器人的 API Token（HTTP 401）。"
        "请管理员检查 ZADIG_TOKEN 是否过期或被停用。"
    )


async def test_explain_timeout():
    exc = await error_from(httpx.ReadTimeout(f"timed out with token {TOKEN}"))
    assert isinstance(exc, ZadigTimeout)
    assert (
        explain_zadig_error(exc, "发布")
        == "发布失败：Zadig 没有及时响应（超时）。什么都没有改变，请稍后再试。"
    )


async def test_explain_unavailable():
    exc = await error_from(httpx.ConnectError(f"refused Bearer {TOKEN}"))
    assert type(exc) is ZadigUnavailable
    assert TOKEN not in str(exc)
    assert (
        explain_zadig_error(exc)
        == "调用 Zadig失败：连不上 Zadig。什么都没有改变，请稍后再试或联系管理员。"
    )


async def test_explain_not_found():
    exc = await error_from(
        httpx.Response(
            500,
            json={
                "message": "Internal Error: ",
                "code": 500,
                "description": "mongo: no documents in result",
            },
        )
    )
    assert isinstance(exc, ZadigNotFound)
    assert (
        explain_zadig_error(exc, "查询任务")
        == "查询任务失败：Zadig 里找不到对应的对象（mongo: no documents in result）。"
        "请检查 catalog.yml 的配置。"
    )


async def test_explain_api_error_with_code():
    exc = await error_from(
        httpx.Response(
            400,
            json={
                "type": "error",
                "message": "创建工作流任务失败",
                "code": 6160,
                "description": f"bad token {TOKEN} in request",
                "extra": {},
            },
        )
    )
    assert type(exc) is ZadigAPIError
    text = explain_zadig_error(exc, "发布")
    assert (
        text == "发布失败：Zadig 返回 创建工作流任务失败：bad token *** in request（code 6160）。"
    )


async def test_explain_api_error_without_description():
    exc = await error_from(httpx.Response(418, text=f"teapot {TOKEN}"))
    text = explain_zadig_error(exc)
    assert text.startswith("调用 Zadig失败：Zadig 返回 ")
    assert text.endswith("（code 418）。")
    assert "teapot ***" in text


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401),
        httpx.Response(403, json={"reason": "mfa_verification_required"}),
        httpx.ReadTimeout(TOKEN),
        httpx.ConnectError(TOKEN),
        httpx.Response(502, text=TOKEN),
        httpx.Response(
            500,
            json={
                "message": "Internal Error: ",
                "code": 500,
                "description": f"mongo: no documents in result {TOKEN}",
            },
        ),
        httpx.Response(400, json={"code": 6163, "message": TOKEN, "description": TOKEN}),
        httpx.Response(200, text=f"<html>{TOKEN}</html>"),
    ],
    ids=["401", "403-mfa", "timeout", "connect", "502", "not-found", "api", "not-json"],
)
async def test_explanations_never_contain_the_token(reply):
    exc = await error_from(reply)
    text = explain_zadig_error(exc)
    assert text.startswith("调用 Zadig失败：")
    assert TOKEN not in text


async def test_a_timeout_on_a_state_change_does_not_claim_nothing_happened():
    exc = await error_from(httpx.ReadTimeout("slow"))
    text = explain_zadig_error(exc, "发布", changes_state=True)
    # The wording is still being tuned; what matters: it may have happened, check before retrying.
    assert text.startswith("发布时 Zadig 没有及时响应（超时），操作可能已经生效。")
    assert "确认" in text and "重试" in text
    assert "什么都没有改变" not in text


@pytest.mark.parametrize(
    "reply", [httpx.Response(504), httpx.RemoteProtocolError("dropped")], ids=["504", "dropped"]
)
async def test_an_outage_on_a_state_change_does_not_claim_nothing_happened(reply):
    exc = await error_from(reply)
    assert type(exc) is ZadigUnavailable
    assert "什么都没有改变" not in explain_zadig_error(exc, "发布", changes_state=True)


def test_explain_a_bare_zadig_error():
    assert explain_zadig_error(ZadigError("something odd"), "取消") == "取消失败：something odd"
