"""Several replicas of the bot on loopback, sharing one PostgreSQL and one Redis.

Used by the replica tests (tests/e2e/test_replicas.py) and the latency benchmark
(bench/latency.py). The two simulators come from `devstack.stack.Stack` (``bot=False``); each
replica is a Rasa server with its own action server, as one pod of deploy/k8s would hold them
(replica ``i`` = ``rasa-i`` + ``actions-i``). Every replica shares:

- Rasa's SQL tracker store in the database ``rasa`` (scripts/services.sh creates it), in a
  schema of its own per cluster (Rasa's ``POSTGRESQL_SCHEMA``);
- the bot's own state (``CHATOPS_DB_URL``) in the database of the given URL (``chatops``), also
  in a fresh schema;
- the lock store ``connectors.lock_store.AtomicRedisLockStore`` on the given Redis, under a key
  prefix of its own (``lock_store="redis"`` selects Rasa OSS's ``RedisLockStore`` instead, to
  show what the atomic one prevents).

Both schemas are dropped by `stop` (``keep_data=True`` keeps them for a post-mortem). The
DingTalk simulator delivers each message to the replica the caller names (``bot_url`` per
message, `ClusterChat`), or to the next live one in turn, as a load balancer would. Zadig's
workflow webhook goes to one live replica; `kill` moves it when that replica dies, as the
Ingress in front of the replicas would.

`kill` is ``kill -9`` of both processes of a replica (its process groups); `restart` starts
them again with the same settings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlsplit

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from devstack.process import ROOT, ServerProcess, free_port
from devstack.stack import (
    ACTION_TOKEN,
    ACTIONS_HEALTH,
    ACTIONS_STARTUP,
    DINGTALK_WEBHOOK,
    RASA_HEALTH,
    RASA_STARTUP,
    ZADIG_WEBHOOK,
    ChatClient,
    Ports,
    Stack,
    actions_argv,
    rasa_argv,
)

# Rasa's lock stores, by the name `Cluster(lock_store=...)` takes.
LOCK_STORES = {
    "atomic": "connectors.lock_store.AtomicRedisLockStore",
    "redis": "redis",  # Rasa OSS's RedisLockStore: not safe across replicas (RasaHQ/rasa#9213)
}


class ReplicaProcess(ServerProcess):
    """A `ServerProcess` that can be launched without waiting, and killed with SIGKILL."""

    ready = False  # answered its health URL since it was last launched

    def launch(self) -> None:
        self.ready = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self) -> None:
        super().wait_healthy()
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        super().stop()

    def kill(self) -> None:
        """``kill -9`` of the whole process group: no shutdown hook runs."""
        self.ready = False
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    @property
    def alive(self) -> bool:
        """Started, answering, and not killed or stopped since."""
        return self.ready and self.proc is not None and self.proc.poll() is None


@dataclass
class Replica:
    index: int
    rasa: ReplicaProcess
    actions: ReplicaProcess

    @property
    def url(self) -> str:
        return self.rasa.url

    @property
    def bot_webhook(self) -> str:
        return f"{self.url}{DINGTALK_WEBHOOK}"

    @property
    def zadig_webhook(self) -> str:
        return f"{self.url}{ZADIG_WEBHOOK}"

    @property
    def alive(self) -> bool:
        return self.rasa.alive

    @property
    def pid(self) -> int:
        """The Rasa server's process id (for a profiler)."""
        assert self.rasa.proc is not None
        return self.rasa.proc.pid


@dataclass
class Cluster:
    """``Cluster(model, pg_url=..., redis_url=...)``, then `start`, `kill`, `restart`, `stop`.

    ``stack`` carries every setting the single-process stack has (timings, pacing, state
    directory); its Rasa port is replica 0's, so Zadig's webhook starts out there.
    """

    model: Path
    pg_url: str
    redis_url: str
    replicas: int = 2
    rasa_db: str = "rasa"
    lock_store: str = "atomic"
    # Stack settings (see devstack.stack.Stack); the defaults are the stack's own.
    stack_options: Dict[str, Any] = field(default_factory=dict)
    keep_data: bool = False
    run_id: str = field(default_factory=lambda: f"c{uuid.uuid4().hex[:10]}")
    members: List[Replica] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.lock_store not in LOCK_STORES:
            raise ValueError(f"lock_store must be one of {sorted(LOCK_STORES)}")
        self.schema = self.run_id  # the same fresh schema name in both databases
        self.ports = [(free_port(), free_port()) for _ in range(self.replicas)]  # (rasa, actions)
        options = dict(self.stack_options)
        ports = Ports.free()
        ports.rasa, ports.actions = self.ports[0]
        self.stack = Stack(
            model=self.model,
            ports=ports,
            db_url=self.bot_db_url,
            bot=False,
            **options,
        )
        self._turn = 0
        self._engines: Dict[str, Engine] = {}

    # -- addresses and databases ---------------------------------------------------------------

    @property
    def bot_db_url(self) -> str:
        """CHATOPS_DB_URL of every process: the given database, this cluster's schema."""
        sep = "&" if "?" in self.pg_url else "?"
        return f"{self.pg_url}{sep}options=-csearch_path%3D{self.schema}"

    @property
    def rasa_db_url(self) -> str:
        return str(make_url(self.pg_url).set(database=self.rasa_db))

    @property
    def dingtalk_url(self) -> str:
        return self.stack.dingtalk_url

    @property
    def zadig_url(self) -> str:
        return self.stack.zadig_url

    def engine(self, which: str) -> Engine:
        """An engine on this cluster's schema of ``"bot"`` (chatops) or ``"rasa"``."""
        if which not in self._engines:
            url = self.bot_db_url if which == "bot" else self.rasa_db_url
            args = {} if which == "bot" else {"options": f"-csearch_path={self.schema}"}
            self._engines[which] = create_engine(url, future=True, connect_args=args)
        return self._engines[which]

    def _schemas(self, action: str) -> None:
        for url in (self.pg_url, self.rasa_db_url):
            admin = create_engine(url, future=True)
            try:
                with admin.begin() as conn:
                    if action == "create":
                        conn.execute(text(f"CREATE SCHEMA {self.schema}"))
                    else:
                        conn.execute(text(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE"))
            finally:
                admin.dispose()

    def _forget_locks(self) -> None:
        """Delete this cluster's lock keys (a left-over one would expire by itself)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(f"{self.run_id}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    # -- processes -----------------------------------------------------------------------------

    def _endpoints_file(self, index: int) -> Path:
        redis = urlsplit(self.redis_url)
        redis_db = (redis.path or "/0").lstrip("/") or "0"
        rasa = make_url(self.rasa_db_url)
        path = self.stack.state_dir / f"endpoints-{index}.yml"
        path.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.ports[index][1]}/webhook"\n'
            f'  token: "{ACTION_TOKEN}"\n'
            "tracker_store:\n  type: SQL\n  dialect: postgresql\n"
            f"  url: {rasa.host}\n  port: {rasa.port or 5432}\n  db: {rasa.database}\n"
            f"  username: {rasa.username}\n"
            + (f"  password: {rasa.password}\n" if rasa.password else "")
            + f"lock_store:\n  type: {LOCK_STORES[self.lock_store]}\n"
            f"  url: {redis.hostname}\n  port: {redis.port or 6379}\n  db: {redis_db}\n"
            f"  key_prefix: {self.run_id}\n",
            encoding="utf-8",
        )
        return path

    def _replica(self, index: int) -> Replica:
        env = {
            **self.stack.bot_env(),
            # Rasa's SQL tracker store: search_path of its connections (rasa/core/tracker_store.py)
            "POSTGRESQL_SCHEMA": self.schema,
        }
        rasa_port, actions_port = self.ports[index]
        log_dir = self.stack.log_dir
        actions = ReplicaProcess(
            f"actions-{index}",
            actions_argv(actions_port),
            actions_port,
            ACTIONS_HEALTH,
            env=env,
            log_dir=log_dir,
            startup_timeout=ACTIONS_STARTUP,
        )
        rasa = ReplicaProcess(
            f"rasa-{index}",
            rasa_argv(self._endpoints_file(index), self.model, rasa_port),
            rasa_port,
            RASA_HEALTH,
            env=env,
            log_dir=log_dir,
            startup_timeout=RASA_STARTUP,
        )
        return Replica(index, rasa, actions)

    def start(self) -> "Cluster":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._schemas("create")
        self.stack.start()  # the two simulators
        self.members = [self._replica(i) for i in range(self.replicas)]
        for replica in self.members:
            replica.actions.launch()
        # Model loading dominates start-up: the replicas load in parallel, but the second
        # starts only once the first has created Rasa's table (Rasa creates it before it loads
        # the model), so they never race on CREATE TABLE (deploy/docker-compose.yml waits too).
        for i, replica in enumerate(self.members):
            replica.rasa.launch()
            if i == 0 and self.replicas > 1:
                self._wait_for_rasa_table(replica)
        for replica in self.members:
            replica.actions.wait_healthy()
            replica.rasa.wait_healthy()

    def _wait_for_rasa_table(self, replica: Replica, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        query = text(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = :schema AND table_name = 'events'"
        )
        while time.monotonic() < deadline:
            with self.engine("rasa").connect() as conn:
                if conn.execute(query, {"schema": self.schema}).first():
                    return
            if replica.rasa.proc is not None and replica.rasa.proc.poll() is not None:
                replica.rasa.wait_healthy()  # raises with the log's tail
            time.sleep(0.3)
        raise RuntimeError(f"rasa-{replica.index} did not create its tracker table in time")

    def stop(self) -> None:
        for replica in reversed(self.members):
            replica.rasa.stop()
            replica.actions.stop()
        self.stack.stop()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        if not self.keep_data:
            self._schemas("drop")
            self._forget_locks()

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- replicas ------------------------------------------------------------------------------

    def replica(self, index: int) -> Replica:
        return self.members[index]

    def live(self) -> List[Replica]:
        return [r for r in self.members if r.alive]

    def next_live(self) -> Replica:
        """The next live replica in turn (round robin, as a load balancer)."""
        live = self.live()
        if not live:
            raise RuntimeError("no replica is running")
        self._turn += 1
        return live[self._turn % len(live)]

    def kill(self, index: int) -> None:
        """``kill -9`` replica ``index`` (Rasa server and action server); Zadig's webhook moves
        to a live replica if it pointed there."""
        replica = self.members[index]
        replica.rasa.kill()
        replica.actions.kill()
        webhook = self.zadig_webhook()
        if webhook == replica.zadig_webhook and self.live():
            self.route_zadig_webhook(self.live()[0])

    def restart(self, index: int) -> None:
        """Start a killed (or stopped) replica again and wait until it answers."""
        replica = self.members[index]
        replica.rasa.stop()
        replica.actions.stop()
        replica.actions.launch()
        replica.rasa.launch()
        replica.actions.wait_healthy()
        replica.rasa.wait_healthy()

    def zadig_webhook(self) -> str:
        config = httpx.get(f"{self.zadig_url}/_sim/config", timeout=5).json()
        return str(config.get("webhook_url") or "")

    def route_zadig_webhook(self, replica: Replica) -> None:
        if not self.stack.webhook:
            return
        httpx.post(
            f"{self.zadig_url}/_sim/config",
            json={"webhook_url": replica.zadig_webhook},
            timeout=5,
        ).raise_for_status()


class ClusterChat(ChatClient):
    """A `ChatClient` whose messages go to a chosen replica, or to the next live one."""

    def __init__(
        self,
        cluster: Cluster,
        conversation: str,
        user: str = "user123",
        nick: str = "张三",
        group: bool = True,
    ) -> None:
        super().__init__(
            cluster.stack, conversation=conversation, group=group, user=user, nick=nick
        )
        self.cluster = cluster

    def say(self, text: str, **extra: object) -> Dict[str, object]:
        """To the next live replica in turn (``bot_url=...`` overrides)."""
        extra.setdefault("bot_url", self.cluster.next_live().bot_webhook)
        return super().say(text, **extra)

    def say_to(self, index: int, text: str, **extra: object) -> Dict[str, object]:
        """To replica ``index``, alive or not (a dead one: the simulator's 502 raises)."""
        return super().say(text, bot_url=self.cluster.replica(index).bot_webhook, **extra)
