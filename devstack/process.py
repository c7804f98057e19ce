"""Run a server module as a real process on a loopback port (simulators, rasa, action server).

Used by the tests, the end-to-end suite and the demo: `ServerProcess` starts a command, waits
until an HTTP health URL answers, and stops the whole process group on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A child process serving HTTP on 127.0.0.1:<port>, started and stopped as a unit."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        health_path: str = "/",
        env: Optional[Dict[str, str]] = None,
        log_dir: Optional[Path] = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv: List[str] = list(argv)
        self.port = port
        self.health_path = health_path
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("PYTHONPATH", str(ROOT))
        self.log_path = (log_dir or ROOT / "var" / "logs") / f"{name}-{port}.log"
        self.startup_timeout = startup_timeout
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; "
                    f"see {self.log_path}:\n{self.tail()}"
                )
            try:
                if httpx.get(self.url + self.health_path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer on {self.url}{self.health_path} within "
            f"{self.startup_timeout:.0f}s; see {self.log_path}:\n{self.tail()}"
        )

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python_module(module: str, *args: str) -> List[str]:
    """argv for `python -m module args...` with the interpreter running this code."""
    return [sys.executable, "-m", module, *args]
