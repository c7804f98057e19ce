"""Fixtures for the Zadig simulator tests: the simulator as a real process, a webhook receiver.

Names are prefixed (`zadig`, `zadig_process`, `webhook_receiver`) because other simulator tests
share this directory and define their own `sim`/`receiver`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import httpx
import pytest

from devstack.process import ServerProcess, free_port, python_module

TOKEN = "test-zadig-token"
REGISTRY = "https://harbor.example.com/mall"

# A catalog of its own, so these tests do not move when the project's catalog.yml is edited.
# order-service has a module and a repo that differ from its name.
CATALOG_YAML = """\
project:
  key: mall
  name: 商城
registry: https://harbor.example.com/mall
codehost: gitlab
repo_namespace: mall
environments:
  dev:
    aliases: [开发环境, 开发]
    workflow: mall-dev
    build_job: build
    deploy_job: deploy
    branch: dev
  test:
    aliases: [测试环境, 测试]
    workflow: mall-test
    build_job: build
    deploy_job: deploy
    branch: test
  prod:
    aliases: [生产环境, 生产]
    workflow: mall-prod
    build_job: build
    deploy_job: deploy
    branch: master
    production: true
services:
  user-service:
    aliases: [用户服务]
  order-service:
    module: order
    repo: order-backend
    aliases: [订单服务]
"""


@pytest.fixture(scope="module")
def zadig_catalog_yaml() -> str:
    """The catalog text the simulator process is seeded with."""
    return CATALOG_YAML


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zadig-sim") / "catalog.yml"
    path.write_text(CATALOG_YAML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zadig_process(catalog_file: Path) -> Iterator[ServerProcess]:
    """One simulator process per test module (starting Sanic takes about a second)."""
    port = free_port()
    argv = python_module(
        "simulators.zadig",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--catalog",
        str(catalog_file),
        "--waiting-seconds",
        "0.2",
        "--running-seconds",
        "0.6",
        "--web-url",
        "http://zadig.example.com",
    )
    with ServerProcess("zadig-simulator-test", argv, port, health_path="/_sim/health") as proc:
        yield proc


class Sim:
    """Raw-HTTP access to the simulator: the OpenAPI with the token, and its control API."""

    token = TOKEN
    registry = REGISTRY

    def __init__(self, base_url: str) -> None:
        self.url = base_url
        self.api = httpx.Client(
            base_url=base_url, timeout=10.0, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        self.raw = httpx.Client(base_url=base_url, timeout=10.0)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.raw.request(method, f"/_sim{path}", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def trigger(self, body: Dict[str, Any]) -> httpx.Response:
        return self.api.post("/openapi/workflows/custom/task", content=json.dumps(body))

    def task(self, workflow_key: str, task_id: int) -> Dict[str, Any]:
        resp = self.api.get(
            "/openapi/workflows/custom/task",
            params={"taskId": task_id, "workflowKey": workflow_key},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_status(
        self, workflow_key: str, task_id: int, wanted: set, timeout: float = 5.0
    ) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(workflow_key, task_id)
            if task.get("status") in wanted:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"task {workflow_key}:{task_id} still {task.get('status')}")
            time.sleep(0.05)

    def close(self) -> None:
        self.api.close()
        self.raw.close()


@pytest.fixture
def zadig(zadig_process: ServerProcess) -> Iterator[Sim]:
    """The shared simulator, reset to its start-up state for this test."""
    client = Sim(zadig_process.url)
    client.control("POST", "/reset")
    yield client
    client.close()


class Receiver:
    """A tiny HTTP server that records every POST it gets (the bot's webhook endpoint)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": json.loads(raw or b"null"),
                        }
                    )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/zadig/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} webhook(s), got {len(self.received)}")


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()
