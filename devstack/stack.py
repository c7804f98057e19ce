"""The whole bot on loopback: Zadig simulator, DingTalk simulator, action server, Rasa server.

Used by `make demo` (scripts/demo.py) and the end-to-end tests. Every process is real and
talks HTTP to the others exactly as in production; only Zadig and DingTalk are simulators.
Optionally the DingTalk Stream sidecar runs too (in its own venv) and the DingTalk simulator
delivers over its Stream gateway instead of signed HTTP callbacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import httpx

from devstack.process import ROOT, ServerProcess, free_port, python_module

VENV_BIN = Path(sys.executable).parent
STREAM_PYTHON = ROOT / ".venv-stream" / "bin" / "python"
WEBHOOK_TOKEN = "demo-zadig-webhook-token"  # simulator <-> bot only; not a secret
ACTION_TOKEN = "demo-action-server-token"  # Rasa <-> action server on loopback; not a secret
# The Rasa server's routes (credentials.yml) and the health routes the processes are waited on.
DINGTALK_WEBHOOK = "/webhooks/dingtalk/webhook"
ZADIG_WEBHOOK = "/webhooks/zadig/webhook"
RASA_HEALTH = "/webhooks/dingtalk/"
ACTIONS_HEALTH = "/health"
# Start-up budgets: the action server imports the actions; the Rasa server loads the model.
ACTIONS_STARTUP = 120.0
RASA_STARTUP = 300.0


def actions_argv(port: int) -> List[str]:
    """The action server as `make actions` runs it."""
    return [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(port)]


def rasa_argv(endpoints: Path, model: Path, port: int) -> List[str]:
    """The Rasa server as `make run` runs it."""
    return [
        str(VENV_BIN / "rasa"),
        "run",
        "--credentials",
        "credentials.yml",
        "--endpoints",
        str(endpoints),
        "--model",
        str(model),
        "--port",
        str(port),
    ]


def newest_model() -> Optional[Path]:
    """The most recently trained or reused model in models/ (bootstrap touches the one it uses)."""
    models = sorted((ROOT / "models").glob("chatops-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


@dataclass
class Ports:
    zadig: int = 7070
    dingtalk: int = 7080
    actions: int = 5055
    rasa: int = 5005

    @classmethod
    def free(cls) -> "Ports":
        return cls(free_port(), free_port(), free_port(), free_port())


@dataclass
class Stack:
    model: Path
    ports: Ports = field(default_factory=Ports)
    state_dir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="chatops-stack-", dir=ROOT / "var"))
    )
    waiting_seconds: float = 1.0
    running_seconds: float = 6.0
    webhook: bool = True
    stream: bool = False
    followup_interval: float = 1.0
    app_secret: str = "demo-app-secret"
    # DingTalk's real limit (and the demo's) is 20 a minute; the e2e suite talks much faster.
    send_per_minute: int = 20
    # DingTalk's penalty after "send too fast" is 10 minutes; tests shorten it.
    throttle_seconds: float = 600.0
    # How long a production approval request waits (30 minutes; tests shorten it).
    approval_ttl: float = 1800.0
    # The shared database (CHATOPS_DB_URL); empty = SQLite in state_dir.
    db_url: str = ""
    # More of the bot's environment (e.g. INBOUND_LOST_SECONDS), on top of bot_env().
    extra_env: Dict[str, str] = field(default_factory=dict)
    # The DingTalk simulator's limit over the whole robot; None = send_per_minute.
    dingtalk_rate_limit: Optional[int] = None
    # False: the simulators only (devstack.cluster starts the Rasa and action servers itself).
    bot: bool = True
    processes: List[ServerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.state_dir / "logs"

    # -- addresses -------------------------------------------------------------------------

    @property
    def zadig_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.zadig}"

    @property
    def dingtalk_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dingtalk}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.rasa}"

    @property
    def bot_webhook(self) -> str:
        return f"{self.rasa_url}{DINGTALK_WEBHOOK}"

    def bot_env(self) -> Dict[str, str]:
        """The bot's configuration: environment variables only, as in production."""
        return {
            "ZADIG_BASE_URL": self.zadig_url,
            "ZADIG_TOKEN": "demo-zadig-token",
            "ZADIG_WEBHOOK_TOKEN": WEBHOOK_TOKEN if self.webhook else "",
            "DINGTALK_APP_KEY": "demo-app-key",
            "DINGTALK_APP_SECRET": self.app_secret,
            "DINGTALK_API_BASE": self.dingtalk_url,
            "DINGTALK_MODE": "stream" if self.stream else "http",
            "CHATOPS_DB": str(self.state_dir / "chatops.db"),
            "FOLLOWUP_MIN_INTERVAL": str(self.followup_interval),
            "DINGTALK_SEND_PER_MINUTE": str(self.send_per_minute),
            "DINGTALK_THROTTLE_SECONDS": str(self.throttle_seconds),
            "APPROVAL_TTL_SECONDS": str(self.approval_ttl),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "RASA_TELEMETRY_ENABLED": "false",
            "ACTION_SERVER_TOKEN": ACTION_TOKEN,
            # The action server listens on loopback only (rasa_sdk reads SANIC_HOST).
            "SANIC_HOST": "127.0.0.1",
            **({"CHATOPS_DB_URL": self.db_url} if self.db_url else {}),
            **self.extra_env,
        }

    def _endpoints_file(self) -> Path:
        path = self.state_dir / "endpoints.yml"
        path.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.ports.actions}/webhook"\n'
            f'  token: "{ACTION_TOKEN}"\n'
            f"tracker_store:\n  type: SQL\n  dialect: sqlite\n"
            f"  db: {self.state_dir / 'rasa.db'}\n",
            encoding="utf-8",
        )
        return path

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "Stack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        env = self.bot_env()
        zadig_args = [
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports.zadig),
            "--token",
            "demo-zadig-token",
            "--catalog",
            str(ROOT / "catalog.yml"),
            "--waiting-seconds",
            str(self.waiting_seconds),
            "--running-seconds",
            str(self.running_seconds),
        ]
        if self.webhook:
            zadig_args += [
                "--webhook-url",
                f"{self.rasa_url}{ZADIG_WEBHOOK}",
                "--webhook-token",
                WEBHOOK_TOKEN,
            ]
        self._spawn(
            "zadig-sim",
            python_module("simulators.zadig", *zadig_args),
            self.ports.zadig,
            "/_sim/health",
        )
        self._spawn(
            "dingtalk-sim",
            python_module(
                "simulators.dingtalk",
                "--port",
                str(self.ports.dingtalk),
                "--app-key",
                "demo-app-key",
                "--app-secret",
                self.app_secret,
                "--bot-url",
                self.bot_webhook,
                "--rate-limit",
                str(
                    self.send_per_minute
                    if self.dingtalk_rate_limit is None
                    else self.dingtalk_rate_limit
                ),
                "--zadig-url",
                self.zadig_url,
            ),
            self.ports.dingtalk,
            "/_sim/health",
        )
        if not self.bot:
            return
        self._spawn(
            "actions",
            actions_argv(self.ports.actions),
            self.ports.actions,
            ACTIONS_HEALTH,
            env=env,
            timeout=ACTIONS_STARTUP,
        )
        self._spawn(
            "rasa",
            rasa_argv(self._endpoints_file(), self.model, self.ports.rasa),
            self.ports.rasa,
            RASA_HEALTH,
            env=env,
            timeout=RASA_STARTUP,
        )
        if self.stream:
            if not STREAM_PYTHON.exists():
                raise RuntimeError(
                    "Stream mode needs .venv-stream: run scripts/bootstrap.sh stream"
                )
            self._spawn_sidecar(env)

    def _spawn(
        self,
        name: str,
        argv: List[str],
        port: int,
        health: str,
        env: Optional[Dict[str, str]] = None,
        timeout: float = 30.0,
    ) -> ServerProcess:
        proc = ServerProcess(
            name, argv, port, health, env=env, log_dir=self.log_dir, startup_timeout=timeout
        )
        self.processes.append(proc)
        proc.start()
        return proc

    def _spawn_sidecar(self, env: Dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / "stream-sidecar.log", "ab")
        sidecar_env = {
            **os.environ,
            **env,
            "BOT_WEBHOOK_URL": self.bot_webhook,
            "DINGTALK_OPENAPI_ENDPOINT": self.dingtalk_url,
        }
        proc = subprocess.Popen(
            [str(STREAM_PYTHON), str(ROOT / "stream_sidecar" / "sidecar.py")],
            cwd=ROOT,
            env=sidecar_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        holder = ServerProcess("stream-sidecar", [], 0, log_dir=self.log_dir)
        holder.proc = proc
        self.processes.append(holder)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = httpx.get(f"{self.dingtalk_url}/_sim/stream/status", timeout=2).json()
            if status.get("connected"):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(
            f"the Stream sidecar did not connect; see {self.log_dir / 'stream-sidecar.log'}"
        )

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    def restart(self, name: str) -> None:
        """Stop and start one process (e.g. the action server) with the same settings."""
        for proc in self.processes:
            if proc.name == name:
                proc.stop()
                proc.start()
                return
        raise KeyError(name)

    def process(self, name: str) -> ServerProcess:
        return next(p for p in self.processes if p.name == name)

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ChatClient:
    """Talks to the bot as DingTalk users do, through the DingTalk simulator."""

    def __init__(
        self,
        stack: Stack,
        conversation: str = "cid-demo-group",
        group: bool = True,
        user: str = "user123",
        nick: str = "张三",
        stream: bool = False,
    ) -> None:
        self.stack = stack
        self.stream = stream  # deliver through the Stream gateway (needs the sidecar)
        self.conversation = conversation
        self.group = group
        self.user = user
        self.nick = nick
        self.seen = 0
        self.http = httpx.Client(base_url=stack.dingtalk_url, timeout=30)

    def say(self, text: str, **extra: object) -> Dict[str, object]:
        body = {
            "text": text,
            "user": self.user,
            "nick": self.nick,
            "conversation": self.conversation,
            "group": self.group,
            **extra,
        }
        path = "/_sim/stream/say" if self.stream else "/_sim/say"
        response = self.http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def messages(self) -> List[Dict[str, object]]:
        """Everything the bot posted into this conversation since the last call."""
        data = self.http.get(
            "/_sim/messages", params={"conversation": self.conversation, "since": self.seen}
        ).json()
        self.seen = data.get("next", self.seen + len(data.get("messages", [])))
        return data.get("messages", [])

    def close(self) -> None:
        self.http.close()
