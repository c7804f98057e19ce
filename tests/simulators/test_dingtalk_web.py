"""The DingTalk simulator's web chat routes (simulators/dingtalk/web): the page and its files,
speaking as a chosen person through the real signing path, the feed, the Zadig panel and proxy.

`StubBot` is a bot endpoint on loopback that answers as ours does (``200`` at once, replies
through the sessionWebhook, posts a result later through the robot OpenAPI); the browser test
imports it from here (tests/simulators has no __init__.py: ``tests.simulators.test_...``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from chatops.dingtalk.messages import choices_markdown, markdown_message, text_message, to_openapi
from chatops.dingtalk.signing import SignatureError, verify_request
from devstack.process import ServerProcess, free_port, python_module
from simulators.dingtalk.callbacks import CORP_ID, EXTERNAL_CORP_ID
from tests.simulators.zadig_helpers import (
    TASK,
    TOKEN,
    approval_input,
    build_input,
    deploy_input,
    trigger_body,
)

APP_KEY = "demo-app-key"
APP_SECRET = "demo-app-secret"
CHOICE = "发到测试环境"
RESULT = "#### 发布成功\n- 服务：**order-service**\n- 环境：`test`\n- [查看详情](http://zadig.example.com/t/1)"


class StubBot:
    """Answers like the bot: checks DingTalk's signature, ``200`` at once, then in the background
    asks a question with a one-tap choice through the sessionWebhook; the choice's content gets
    an acknowledgement there and, ``result_delay`` later, a result through the OpenAPI."""

    def __init__(self, result_delay: float = 0.8, zadig_url: str = "") -> None:
        self.calls: List[Dict[str, Any]] = []
        self.result_delay = result_delay
        self.zadig_url = zadig_url  # when set, the choice also starts a Zadig task there
        self._lock = threading.Lock()
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    verify_request(
                        self.headers.get("timestamp"), self.headers.get("sign"), APP_SECRET
                    )
                except SignatureError as exc:
                    self._answer(401, {"error": exc.reason})
                    return
                body = json.loads(raw)
                with bot._lock:
                    bot.calls.append(body)
                self._answer(200, {"msgtype": "empty"})
                threading.Thread(target=bot.respond, args=(body,), daemon=True).start()

            def _answer(self, status: int, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/dingtalk/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def respond(self, body: Dict[str, Any]) -> None:
        text = str(body.get("text", {}).get("content", "")).strip()
        who = [body["senderStaffId"]] if body.get("senderStaffId") else []
        webhook = body["sessionWebhook"]
        if text != CHOICE:
            question = choices_markdown(
                "发布到哪个环境", "发布到哪个环境？", [("测试环境", CHOICE)], who
            )
            httpx.post(webhook, json=question, timeout=5)
            return
        task = f"mall-test #{zadig_trigger(self.zadig_url)}" if self.zadig_url else "mall-test"
        httpx.post(webhook, json=text_message(f"好的，开始发布 {task}", who), timeout=5)
        time.sleep(self.result_delay)
        self.notify(body, markdown_message("发布成功", RESULT))

    def notify(self, body: Dict[str, Any], message: Dict[str, Any]) -> None:
        """Post `message` into the chat through the robot OpenAPI, as the follow-up worker does."""
        parts = urlsplit(body["sessionWebhook"])
        base = f"{parts.scheme}://{parts.netloc}"
        token = httpx.post(
            base + "/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": APP_SECRET}
        ).json()["accessToken"]
        msg_key, msg_param = to_openapi(message)
        send: Dict[str, Any] = {"robotCode": APP_KEY, "msgKey": msg_key, "msgParam": msg_param}
        path = "/v1.0/robot/groupMessages/send"
        if body["conversationType"] == "2":
            send["openConversationId"] = body["conversationId"]
        else:
            path, send["userIds"] = "/v1.0/robot/oToMessages/batchSend", [body["senderStaffId"]]
        headers = {"x-acs-dingtalk-access-token": token}
        httpx.post(base + path, json=send, headers=headers, timeout=5).raise_for_status()

    def wait_calls(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        return wait_for(lambda: list(self.calls) if len(self.calls) >= count else None, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def zadig_trigger(zadig_url: str, workflow: str = "mall-test", approval: str = "") -> int:
    """Start a build and deploy of user-service as the bot would (with `approval`, that job)."""
    env = workflow.split("-")[1]
    inputs = [build_input(), deploy_input(env)] + ([approval_input(approval)] if approval else [])
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(zadig_url + TASK, json=trigger_body(workflow, inputs), headers=auth)
    assert response.status_code == 200, response.text
    return int(response.json()["task_id"])


def wait_for(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout}s")
        time.sleep(0.05)


def start_dingtalk(bot_url: str, zadig_url: str) -> ServerProcess:
    port = free_port()
    argv = python_module(
        "simulators.dingtalk",
        *("--port", str(port), "--app-key", APP_KEY, "--app-secret", APP_SECRET),
        *("--bot-url", bot_url, "--zadig-url", zadig_url),
    )
    return ServerProcess("dingtalk-web-test", argv, port, health_path="/_sim/health").start()


@pytest.fixture(scope="module")
def bot() -> Iterator[StubBot]:
    stub = StubBot(result_delay=0.2)
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def web_process(bot: StubBot, zadig_process: ServerProcess) -> Iterator[ServerProcess]:
    proc = start_dingtalk(bot.url, zadig_process.url)
    yield proc
    proc.stop()


@pytest.fixture
def web(web_process: ServerProcess, bot: StubBot, zadig_process: ServerProcess) -> Iterator[str]:
    """Both simulators and the stub bot back at their start-up state."""
    httpx.post(web_process.url + "/_sim/reset").raise_for_status()
    httpx.post(zadig_process.url + "/_sim/reset").raise_for_status()
    bot.calls.clear()
    yield web_process.url


def say(web: str, **body: Any) -> httpx.Response:
    return httpx.post(web + "/_sim/web/say", json=body, timeout=10)


def feed(web: str, **params: Any) -> Dict[str, Any]:
    response = httpx.get(web + "/_sim/web/feed", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def feed_of(web: str, count: int, **params: Any) -> Dict[str, Any]:
    """The feed once it holds `count` messages."""
    return wait_for(
        lambda: (data := feed(web, **params)) and data["messages"][count - 1 :] and data
    )


# ------------------------------------------------------------------------------ the page


def test_the_page_and_its_files_are_served_from_the_simulator(web):
    page = httpx.get(web + "/chat")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for testid in ("message-list", "message-input", "send-button", "user-switch", "zadig-panel"):
        assert f'data-testid="{testid}"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no fonts
    types = {"chat.js": "text/javascript", "markdown.js": "text/javascript", "chat.css": "text/css"}
    for name, kind in {**types, "zadig.js": "text/javascript"}.items():
        response = httpx.get(f"{web}/chat/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    assert httpx.get(web + "/chat/static/..%2F__init__.py").status_code == 404
    assert httpx.get(web + "/chat/static/nothing.js").status_code == 404
    assert httpx.get(web + "/").headers["location"] == "/chat"


def test_people_are_a_developer_a_release_manager_and_an_outsider(web):
    data = httpx.get(web + "/_sim/web/people").json()
    people = {p["id"]: (p["nick"], p["external"]) for p in data["people"]}
    assert people == {
        "user123": ("张三", False),
        "lead01": ("李四", False),
        "guest01": ("王五", True),
    }
    assert data["group"] == {"conversation": "cid-demo-group", "title": "商城发布群"}
    assert data["zadig"] == {"enabled": True}


# ------------------------------------------------------------------------------ speaking


def test_a_group_message_is_signed_and_posted_as_the_chosen_person(web, bot):
    answer = say(web, text="发布订单服务", person="lead01", chat="group", group="cid-web-1")
    assert answer.status_code == 200 and answer.json()["status"] == 200
    [body] = bot.wait_calls(1)  # the stub refuses (401) anything not signed with the secret
    assert body["senderStaffId"] == "lead01" and body["senderNick"] == "李四"
    assert body["senderCorpId"] == CORP_ID and body["conversationType"] == "2"
    assert body["conversationId"] == "cid-web-1" and body["conversationTitle"] == "商城发布群"
    assert body["text"] == {"content": " 发布订单服务"}  # DingTalk keeps the space after @robot
    assert answer.json()["callback"]["msgId"] == body["msgId"]


def test_someone_outside_the_organisation_has_no_staff_id(web, bot):
    assert say(web, text="你好", person="guest01").status_code == 200
    [body] = bot.wait_calls(1)
    assert "senderStaffId" not in body and body["senderCorpId"] == EXTERNAL_CORP_ID
    assert body["senderNick"] == "王五" and body["conversationId"] == "cid-demo-group"
    [item] = [m for m in feed(web, chat="group")["messages"] if m["kind"] == "user"]
    assert (item["sender"], item["external"], item["nick"]) == ("guest01", True, "王五")


def test_a_one_to_one_message_goes_to_that_persons_single_chat(web, bot):
    assert say(web, text="发布", person="user123", chat="single").json()["status"] == 200
    [body] = bot.wait_calls(1)
    assert body["conversationType"] == "1" and body["conversationId"] == "cid-single-user123"
    assert body["text"] == {"content": "发布"} and "atUsers" not in body


def test_bad_requests_are_refused(web, bot):
    assert say(web, text="x", person="nobody").status_code == 400
    assert say(web, text="  ", person="user123").status_code == 400
    assert say(web, text="x", person="user123", chat="channel").status_code == 400
    assert httpx.post(web + "/_sim/web/say", content=b"[1]").status_code == 400
    assert httpx.get(web + "/_sim/web/feed", params={"since": "x"}).status_code == 400
    assert httpx.get(web + "/_sim/web/feed", params={"chat": "single"}).status_code == 400
    assert bot.calls == []


def test_an_unreachable_bot_is_a_502_and_the_message_shows_undelivered(web):
    httpx.post(web + "/_sim/config", json={"bot_url": f"http://127.0.0.1:{free_port()}/x"})
    assert say(web, text="在吗", person="user123").status_code == 502
    [item] = feed(web)["messages"]
    assert (item["text"], item["delivered"]) == ("在吗", False)


# ------------------------------------------------------------------------------ the feed


def test_the_feed_lists_the_conversation_in_order_with_later_notifications(web, bot):
    say(web, text="发布", person="user123")
    say(web, text="别的群", person="user123", group="cid-other")
    wait_for(lambda: len(feed(web)["messages"]) >= 2)
    say(web, text=CHOICE, person="user123")
    data = feed_of(web, 5)
    rows = [(m["kind"], m["sender"], m.get("route"), m["msgtype"]) for m in data["messages"]]
    assert rows == [
        ("user", "user123", "http", "text"),
        ("bot", "bot", "session_webhook", "markdown"),
        ("user", "user123", "http", "text"),
        ("bot", "bot", "session_webhook", "text"),
        ("bot", "bot", "openapi_group", "markdown"),
    ]
    question = data["messages"][1]
    assert "dtmd://dingtalkclient/sendMessage?content=" in question["text"]
    assert question["at_user_ids"] == ["user123"] and "@user123" in question["text"]
    assert data["messages"][-1]["text"] == RESULT
    ids = [m["id"] for m in data["messages"]]
    assert ids == sorted(ids) and data["next"] > ids[-1]
    assert feed(web, since=data["next"])["messages"] == []
    later = feed(web, since=ids[2])["messages"]
    assert [m["id"] for m in later] == ids[2:]
    other = feed(web, group="cid-other")["messages"]
    assert [m["text"] for m in other if m["kind"] == "user"] == ["别的群"]


def test_a_single_chat_feed_gets_the_openapi_notification_too(web, bot):
    say(web, text=CHOICE, person="lead01", chat="single")
    data = feed_of(web, 3, chat="single", person="lead01")
    assert data["conversation"] == "cid-single-lead01"
    assert [m["route"] for m in data["messages"]] == ["http", "session_webhook", "openapi_single"]
    assert feed(web, chat="single", person="user123")["messages"] == []
    assert feed(web, conversation="cid-single-lead01")["messages"] == data["messages"]


def test_messages_from_the_control_api_and_non_text_appear_and_reset_starts_a_new_epoch(web):
    httpx.post(web + "/_sim/say", json={"conversation": "cid-demo-group", "msgtype": "picture"})
    httpx.post(web + "/_sim/say", json={"conversation": "cid-demo-group", "user": "lead01"})
    before = feed(web)
    said = [m for m in before["messages"] if m["kind"] == "user"]
    assert [(m["sender"], m["msgtype"], m["text"]) for m in said] == [
        ("user123", "picture", "[图片]"),
        ("lead01", "text", ""),
    ]
    httpx.post(web + "/_sim/reset").raise_for_status()
    after = feed(web)
    assert after["epoch"] != before["epoch"] and after["messages"] == []


async def test_with_a_stream_client_connected_the_page_speaks_over_stream(web):
    opened = httpx.post(
        web + "/v1.0/gateway/connections/open",
        json={"clientId": APP_KEY, "clientSecret": APP_SECRET, "subscriptions": []},
    ).json()
    async with websockets.connect(f"{opened['endpoint']}?ticket={opened['ticket']}") as ws:
        for _ in range(100):
            if httpx.get(web + "/_sim/stream/status").json()["connected"]:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                web + "/_sim/web/say", json={"text": "发布", "person": "lead01"}
            )
        frame = json.loads(await ws.recv())
    assert answer.status_code == 200 and frame["type"] == "CALLBACK"
    assert json.loads(frame["data"])["senderStaffId"] == "lead01"
    [item] = feed(web)["messages"]
    assert (item["route"], item["delivered"]) == ("stream", None)


# ------------------------------------------------------------------------------ Zadig


def panel(web: str) -> Dict[str, Any]:
    response = httpx.get(web + "/_sim/web/zadig/panel")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_panel_shows_tasks_with_stages_and_the_controls_reach_the_zadig_simulator(
    web, zadig_process
):
    first = panel(web)
    assert first["tasks"] == [] and first["outcomes"] == []
    assert first["user"]["user_id"] == "uid-chatops-bot"
    assert {"key": "mall-prod", "disabled": False, "approval": False} in first["workflows"]

    sim = web + "/_sim/web/zadig/sim/"
    fail = httpx.post(sim + "outcome", json={"status": "failed", "stage": "deploy"})
    assert fail.status_code == 200 and fail.json()["outcomes"][0]["status"] == "failed"
    assert httpx.post(sim + "outcome", json={"status": "exploded"}).status_code == 400
    approver = {"user_id": "uid-chatops-bot", "user_name": "chatops-bot"}
    approval = httpx.post(sim + "workflows/mall-prod/approval", json={"approvers": [approver]})
    assert approval.status_code == 200
    task_id = zadig_trigger(zadig_process.url)

    now = panel(web)
    assert [w["key"] for w in now["workflows"] if w["approval"]] == ["mall-prod"]
    [task] = now["tasks"]
    assert (task["workflow_key"], task["task_id"]) == ("mall-test", task_id)
    assert task["services"] == ["user-service"] and task["env"] == "test"
    assert [s["name"] for s in task["stages"]] == ["build", "deploy"]
    assert task["outcome"]["status"] == "failed" and panel(web)["outcomes"] == []
    done = wait_for(lambda: (t := panel(web)["tasks"][0])["status"] == "failed" and t, 8)
    assert [s["status"] for s in done["stages"]][-1] == "failed"

    assert httpx.delete(sim + "workflows/mall-prod/approval").status_code == 200
    assert not any(w["approval"] for w in panel(web)["workflows"])
    assert httpx.get(sim + "tasks/mall-test/999").status_code == 404


def test_without_a_zadig_simulator_the_panel_is_off_or_unreachable(web):
    httpx.post(web + "/_sim/config", json={"zadig_url": ""}).raise_for_status()
    assert httpx.get(web + "/_sim/web/zadig/panel").status_code == 503
    assert httpx.get(web + "/_sim/web/people").json()["zadig"] == {"enabled": False}
    dead = f"http://127.0.0.1:{free_port()}"
    httpx.post(web + "/_sim/config", json={"zadig_url": dead}).raise_for_status()
    assert httpx.get(web + "/_sim/web/zadig/panel").status_code == 502
    assert httpx.post(web + "/_sim/web/zadig/sim/outcome", json={}).status_code == 502
