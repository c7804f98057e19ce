"""The Stream sidecar as real processes: DingTalk simulator -> WebSocket -> sidecar -> bot URL.

The sidecar runs in its own venv (.venv-stream, ``scripts/bootstrap.sh stream``) against the
DingTalk simulator's Stream gateway (DINGTALK_OPENAPI_ENDPOINT); a small HTTP receiver stands in
for the bot's channel and checks the signature with the bot's own signing module.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest

from chatops.dingtalk.signing import SignatureError, verify_request
from devstack.process import ROOT, ServerProcess, free_port, python_module

STREAM_PYTHON = ROOT / ".venv-stream" / "bin" / "python"
SIDECAR = ROOT / "stream_sidecar" / "sidecar.py"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not STREAM_PYTHON.exists(),
        reason=f"{STREAM_PYTHON} is missing; create it with `scripts/bootstrap.sh stream`",
    ),
]

APP_KEY = "sidecar-test-app-key"
APP_SECRET = "sidecar-test-secret-7f3a9c"
SAY = {"text": "把订单服务发到测试环境", "user": "user123", "conversation": "cid-1", "group": True}


class Receiver:
    """Stands in for the bot's channel: verifies the signature, records every POST."""

    def __init__(self, secret: str = APP_SECRET, port: Optional[int] = None) -> None:
        self.calls: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call: Dict[str, Any] = {
                    "path": self.path,
                    "raw": raw,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                try:
                    verify_request(self.headers.get("timestamp"), self.headers.get("sign"), secret)
                except SignatureError as exc:
                    call["rejected"] = exc.reason
                    status, body = 401, {"error": "invalid signature", "reason": exc.reason}
                else:
                    status, body = 200, {"msgtype": "empty"}
                with receiver._lock:
                    receiver.calls.append(call)
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/dingtalk/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} POST(s) from the sidecar, got {len(self.calls)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SidecarProcess(ServerProcess):
    """The sidecar serves no HTTP: it is up once the simulator sees its WebSocket."""

    def __init__(self, sim: ServerProcess, bot_url: str, secret: str = APP_SECRET) -> None:
        env = {
            "DINGTALK_APP_KEY": APP_KEY,
            "DINGTALK_APP_SECRET": secret,
            "BOT_WEBHOOK_URL": bot_url,
            "DINGTALK_OPENAPI_ENDPOINT": sim.url,
            # Nothing from the project on its path: it must run without rasa/chatops.
            "PYTHONPATH": "",
        }
        super().__init__(
            "stream-sidecar",
            [str(STREAM_PYTHON), str(SIDECAR)],
            sim.port,
            health_path="/_sim/stream/status",
            env=env,
            startup_timeout=20.0,
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self.assert_running()
            if httpx.get(self.url + self.health_path, timeout=2.0).json().get("connected"):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the sidecar never connected to the simulator:\n{self.tail()}")

    def assert_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the sidecar exited with {self.proc.returncode}:\n{self.tail()}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def simulator(receiver: Receiver) -> Iterator[ServerProcess]:
    port = free_port()
    argv = python_module(
        "simulators.dingtalk",
        "--port",
        str(port),
        "--app-key",
        APP_KEY,
        "--app-secret",
        APP_SECRET,
        "--bot-url",
        receiver.url,
    )
    with ServerProcess("dingtalk-sim-sidecar-test", argv, port, health_path="/_sim/health") as proc:
        yield proc


def stream_say(sim: ServerProcess, **extra: Any) -> Dict[str, Any]:
    resp = httpx.post(
        sim.url + "/_sim/stream/say", json={**SAY, "wait_ack_seconds": 10, **extra}, timeout=20.0
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def acks_for(sim: ServerProcess, message_id: str) -> List[Dict[str, Any]]:
    acks = httpx.get(sim.url + "/_sim/stream/acks", timeout=5.0).json()["acks"]
    return [a for a in acks if a["messageId"] == message_id]


def test_stream_message_reaches_the_bot_signed_and_is_acked(
    simulator: ServerProcess, receiver: Receiver
) -> None:
    with SidecarProcess(simulator, receiver.url) as sidecar:
        pushed = stream_say(simulator)

        [call] = receiver.wait_for(1)
        assert "rejected" not in call, f"signature rejected: {call['rejected']}"
        assert call["path"] == "/webhooks/dingtalk/webhook"
        assert call["headers"]["content-type"].startswith("application/json")
        assert abs(int(call["headers"]["timestamp"]) - time.time() * 1000) < 60_000
        body = json.loads(call["raw"].decode("utf-8"))
        sent = pushed["callback"]
        assert body["msgId"] == sent["msgId"] == pushed["msg_id"]
        assert body["text"]["content"] == sent["text"]["content"] == " 把订单服务发到测试环境"
        assert body["sessionWebhook"] == sent["sessionWebhook"]
        assert body == sent  # the whole HTTP-mode body, nothing added or lost

        [ack] = acks_for(simulator, pushed["messageId"])
        assert ack["code"] == 200
        assert json.loads(ack["data"]) == {"response": "OK"}
        sidecar.assert_running()
        assert APP_SECRET not in sidecar.tail(200)


def test_bot_down_acks_system_exception_and_keeps_running(simulator: ServerProcess) -> None:
    bot_port = free_port()  # nothing listens here until the bot "comes up" below
    bot_url = f"http://127.0.0.1:{bot_port}/webhooks/dingtalk/webhook"
    with SidecarProcess(simulator, bot_url) as sidecar:
        lost = stream_say(simulator)
        assert lost["ack"] is not None, "no ACK within 10 s"
        [ack] = acks_for(simulator, lost["messageId"])
        assert ack["code"] == 500
        assert "could not be reached" in sidecar.tail()

        sidecar.assert_running()
        bot = Receiver(port=bot_port)
        try:
            delivered = stream_say(simulator, text="进度怎么样")
            [call] = bot.wait_for(1)
        finally:
            bot.close()
        assert "rejected" not in call
        assert json.loads(call["raw"])["msgId"] == delivered["msg_id"]
        assert acks_for(simulator, delivered["messageId"])[0]["code"] == 200


def test_bot_rejecting_the_signature_is_acked_bad_request(simulator: ServerProcess) -> None:
    strict = Receiver(secret="the-bot-has-another-secret")
    try:
        with SidecarProcess(simulator, strict.url) as sidecar:
            pushed = stream_say(simulator)
            [call] = strict.wait_for(1)
            assert call["rejected"] == "forged"
            [ack] = acks_for(simulator, pushed["messageId"])
            assert ack["code"] == 400
            # A rejection is final: no retries. A retry would come 0.5 s after the first
            # attempt (sidecar.RETRY_DELAYS_S), so 1 s would have seen it.
            time.sleep(1.0)
            assert len(strict.calls) == 1
            assert "DINGTALK_APP_SECRET differs" in sidecar.tail()
    finally:
        strict.close()


def test_missing_credentials_fail_fast_with_a_clear_message(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DINGTALK_APP_KEY": APP_KEY}
    result = subprocess.run(
        [str(STREAM_PYTHON), str(SIDECAR)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "DINGTALK_APP_SECRET must be set" in result.stderr
