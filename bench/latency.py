"""Message -> first reply latency under load through replicas on PostgreSQL and Redis (issue 10),
before and after the prepared action result validator (issue 15). `make bench-latency`, or
``.venv/bin/python -m bench.latency [--profile] [--runs stock-1 --levels 10,50] [--report]``.

Needs scripts/services.sh's PostgreSQL and Redis (CHATOPS_TEST_PG_URL, CHATOPS_TEST_REDIS_URL).
Each run is a `devstack.cluster.Cluster` with the stack's DEFAULT settings (pacing 20 a minute
per conversation, burst 5; Zadig tasks of 1 + 6 s; follow-ups from 1 s; Zadig's webhook), except
the DingTalk simulator's limit, which counts the whole robot: off, every conversation is a group.
A level is N users, each holding three-turn deploy conversations one after another ("把X发到Y"
over 8 services and 3 environments, "刚才的发布怎么样了", "有哪些服务"), each turn sent once the
last was answered. Latency: message posted to the DingTalk simulator -> first fitting reply it
received (its clock). Lost: no fitting reply within 60 s. Each conversation must start one task
and get its result once. Runs: prepared-1 (1 replica), prepared-2 (2, messages alternating),
stock-1 (CHATOPS_STOCK_ACTION_VALIDATION=1: Rasa's own validation). Writes bench/results/
latency.json, .md, .png; with --profile, py-spy on the Rasa server at 50 users (profile-*).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.latency_report import render, summarize_profile, write_profile  # noqa: E402
from devstack.cluster import Cluster  # noqa: E402
from devstack.stack import newest_model  # noqa: E402

OUT = ROOT / "bench" / "results"
PY_SPY = ROOT / "var" / "tools-pyspy" / "bin" / "py-spy"
RUNS = {  # name: (replicas, stock validation, levels)
    "prepared-1": (1, False, (1, 10, 50)),
    "prepared-2": (2, False, (10, 50)),
    "stock-1": (1, True, (1, 10, 50)),
}
PER_USER = {1: 10, 10: 3, 50: 2}  # conversations each user holds: enough turns for a p99
TURN_TIMEOUT = 60.0
SERVICES = ["订单服务", "支付服务", "库存服务", "用户服务", "通知服务", "认证服务", "网关", "前端"]
ENVIRONMENTS = ["测试环境", "开发环境", "预发"]
RESULT = re.compile(r"发布(成功|失败|超时|已取消|被拒绝)：")
Script = List[Tuple[str, str, Callable[[str], bool]]]


def script(n: int) -> Script:
    """Conversation n: (kind, text, is-its-reply)."""
    service = SERVICES[n % len(SERVICES)]
    env = ENVIRONMENTS[(n // len(SERVICES)) % len(ENVIRONMENTS)]
    deploy = f"把{service}发到{env}" if n % 2 else f"{service}发布到{env}"
    return [
        ("deploy", deploy, lambda t: "已开始发布" in t),
        ("status", "刚才的发布怎么样了", lambda t: "详情" in t and not RESULT.search(t)),
        ("list", "有哪些服务", lambda t: "的服务：" in t),
    ]


class Sim:
    """The DingTalk simulator: say as users, and hand each conversation its bot messages."""

    def __init__(self, url: str) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.http = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
        self.queues: Dict[str, asyncio.Queue[Dict[str, Any]]] = {}
        self.seen = 0

    def queue(self, conversation: str) -> "asyncio.Queue[Dict[str, Any]]":
        return self.queues.setdefault(conversation, asyncio.Queue())

    async def start(self) -> None:
        self.seen = (await self.http.get("/_sim/messages", params={"since": 10**9})).json()["next"]

    async def poll_forever(self) -> None:
        while True:
            data = (await self.http.get("/_sim/messages", params={"since": self.seen})).json()
            self.seen = data["next"]
            for message in data["messages"]:
                self.queue(message["conversation"]).put_nowait(message)
            await asyncio.sleep(0.05)

    async def say(self, conversation: str, user: str, said: str, bot_url: str) -> int:
        body = dict(text=said, user=user, nick=user, conversation=conversation, group=True)
        response = await self.http.post("/_sim/say", json={**body, "bot_url": bot_url})
        return int(response.json().get("status", response.status_code))


async def converse(sim: Sim, cid: str, n: int, pick: Callable[[], str]) -> Dict[str, Any]:
    inbox, turns, results, other = sim.queue(cid), [], [], []
    for kind, said, fits in script(n):
        sent = time.time()
        status = await sim.say(cid, f"bench{n}", said, pick())
        reply: Optional[Dict[str, Any]] = None
        while reply is None and status == 200:
            try:
                message = await asyncio.wait_for(inbox.get(), sent + TURN_TIMEOUT - time.time())
            except asyncio.TimeoutError:
                break
            if RESULT.search(message["text"]):
                results.append(message["text"])
            elif fits(message["text"]):
                reply = message
            else:
                other.append(message["text"])
        latency = (reply["time_ms"] / 1000 - sent) * 1000 if reply else None
        turns.append({"kind": kind, "status": status, "latency_ms": latency})
    return {"cid": cid, "turns": turns, "results": results, "other": other}


def drain(sim: Sim, conversations: List[Dict[str, Any]]) -> None:
    """Sort what arrived after the last turn: task results, and anything else."""
    for c in conversations:
        inbox = sim.queue(c["cid"])
        while not inbox.empty():
            said = inbox.get_nowait()["text"]
            (c["results"] if RESULT.search(said) else c["other"]).append(said)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that were waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> List[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


def cpu_by_component(cluster: Cluster) -> Dict[str, float]:
    usage: Dict[str, float] = {"bench client": sum(os.times()[:2])}
    processes = [p for r in cluster.members for p in (r.rasa, r.actions)]
    for proc in [*processes, *cluster.stack.processes]:
        usage[proc.name] = cpu_seconds(proc.proc.pid) if proc.proc else 0.0
    usage["postgresql"] = sum(cpu_seconds(pid) for pid in postgres_pids())
    return usage


def server_means(cluster: Cluster) -> Dict[str, float]:
    """Sum and count of the Rasa servers' turn and reply-wait histograms (connectors/ops.py)."""
    totals: Dict[str, float] = {}
    for replica in cluster.members:
        try:
            body = httpx.get(f"{replica.url}/webhooks/ops/metrics", timeout=10).text
        except httpx.HTTPError:
            continue
        for line in body.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith(("chatops_turn_seconds_", "chatops_reply_wait_seconds_")) and (
                name.endswith(("_sum", "_count"))
            ):
                totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def split_latency(before: Dict[str, float], after: Dict[str, float]) -> Dict[str, Any]:
    """Mean ms of a turn inside Rasa (accepted -> replies queued) and of a reply in the outbox."""
    out: Dict[str, Any] = {}
    for metric, key in (("turn_seconds", "turn_ms"), ("reply_wait_seconds", "outbox_wait_ms")):
        name = f"chatops_{metric}"
        count = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
        total = after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)
        out[key] = round(1000 * total / count, 1) if count else None
    return out


def query(cluster: Cluster, sql: str, ids: List[str]) -> List[Any]:
    with cluster.engine("bot").connect() as conn:
        return list(conn.execute(text(sql), {"ids": ids}).all())


async def settle(cluster: Cluster, timeout: float = 90.0) -> None:
    """Until nothing is queued to send and no follow-up is pending (the last level's tail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with cluster.engine("bot").connect() as conn:
            queued = conn.execute(text("SELECT count(*) FROM outbox WHERE state='queued'")).scalar()
            pending = conn.execute(
                text("SELECT count(*) FROM followups WHERE state='pending'")
            ).scalar()
        if not queued and not pending:
            return
        await asyncio.sleep(1.0)


async def level(cluster: Cluster, users: int, per_user: int, label: str) -> Dict[str, Any]:
    sim = Sim(cluster.dingtalk_url)
    await sim.start()
    zadig = httpx.Client(base_url=cluster.zadig_url, timeout=10)
    zadig.delete("/_sim/requests")
    poller = asyncio.get_running_loop().create_task(sim.poll_forever())
    urls = itertools.cycle([r.bot_webhook for r in cluster.members])
    stamp, numbers = time.time_ns(), itertools.count()
    conversations: List[Dict[str, Any]] = []

    async def user(u: int) -> None:
        for k in range(per_user):
            cid = f"cid-bench-{label}-{users}-{u}-{k}-{stamp}"
            conversations.append(await converse(sim, cid, next(numbers), lambda: next(urls)))

    cpu0, means0, t0 = cpu_by_component(cluster), server_means(cluster), time.time()
    await asyncio.gather(*(user(u) for u in range(users)))
    duration = time.time() - t0
    cpu1, means1 = cpu_by_component(cluster), server_means(cluster)
    # Results come 7 s or more after the deploy; wait for each conversation's.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and any(not c["results"] for c in conversations):
        await asyncio.sleep(0.5)
        drain(sim, conversations)
    await asyncio.sleep(3.0)  # a second result would come within a few follow-up rounds
    drain(sim, conversations)
    poller.cancel()
    await sim.http.aclose()
    ids = [c["cid"] for c in conversations]
    deploys = dict(
        query(
            cluster,
            "SELECT conversation_id, count(*) FROM followups WHERE conversation_id = ANY(:ids) "
            "GROUP BY conversation_id",
            ids,
        )
    )
    inbound = dict(
        query(
            cluster,
            "SELECT state, count(*) FROM inbound WHERE conversation_id = ANY(:ids) GROUP BY state",
            ids,
        )
    )
    requests = zadig.get("/_sim/requests").json()
    requests = requests.get("requests", requests) if isinstance(requests, dict) else requests
    zadig.close()
    triggers = sum(
        1 for r in requests if r["method"] == "POST" and r["path"].endswith("/custom/task")
    )
    turns = [t for c in conversations for t in c["turns"]]
    answered = [t["latency_ms"] for t in turns if t["latency_ms"] is not None]
    per_deploys = [deploys.get(i, 0) for i in ids]
    per_results = [len(c["results"]) for c in conversations]
    return {
        "users": users,
        "conversations": len(conversations),
        "turns": len(turns),
        "answered": len(answered),
        "lost": len(turns) - len(answered),
        "unexpected_replies": sum(len(c["other"]) for c in conversations),
        "p50_ms": pct(answered, 0.50),
        "p95_ms": pct(answered, 0.95),
        "p99_ms": pct(answered, 0.99),
        "max_ms": round(max(answered), 1) if answered else None,
        "mean_ms": round(statistics.mean(answered), 1) if answered else None,
        "by_kind": {
            kind: {
                "p50_ms": pct([t["latency_ms"] for t in turns if t["kind"] == kind], 0.5),
                "p95_ms": pct([t["latency_ms"] for t in turns if t["kind"] == kind], 0.95),
            }
            for kind in ("deploy", "status", "list")
        },
        "deploys_per_conversation": [min(per_deploys), max(per_deploys)],
        "zadig_triggers": triggers,
        "results_per_conversation": [min(per_results), max(per_results)],
        "inbound": inbound,
        "inside_rasa": split_latency(means0, means1),
        "duration_s": round(duration, 1),
        "throughput_turns_per_s": round(len(answered) / duration, 2),
        "cpu_s_per_turn": {
            name: round((cpu1[name] - cpu0.get(name, 0.0)) / max(1, len(answered)) * 1000, 1)
            for name in cpu1
        },
    }


def pct(values: List[Optional[float]], q: float) -> Optional[float]:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def start_profiler(pid: int, raw: Path) -> subprocess.Popen[bytes]:
    if not PY_SPY.exists():
        sys.exit(
            f"--profile needs py-spy in {PY_SPY.parent.parent}: python3 -m venv var/tools-pyspy "
            "&& var/tools-pyspy/bin/pip install py-spy==0.4.1"
        )
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
    return subprocess.Popen(
        [*argv, "--nonblocking", "--idle", "--threads", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def run(name: str, model: Path, levels: List[int], profile: bool) -> Dict[str, Any]:
    replicas, stock, _ = RUNS[name]
    cluster = Cluster(
        model=model,
        pg_url=os.environ["CHATOPS_TEST_PG_URL"],
        redis_url=os.environ["CHATOPS_TEST_REDIS_URL"],
        rasa_db=os.environ.get("CHATOPS_TEST_PG_RASA_DB", "rasa"),
        replicas=replicas,
        stack_options=dict(
            dingtalk_rate_limit=0,
            extra_env={"CHATOPS_STOCK_ACTION_VALIDATION": "1" if stock else "0"},
        ),
    )
    t0 = time.monotonic()
    cluster.start()
    out: Dict[str, Any] = {"replicas": replicas, "stock_validation": stock, "levels": {}}
    out["startup_s"] = round(time.monotonic() - t0, 1)
    try:
        await level(cluster, 2, 1, f"{name}-warmup")  # TensorFlow's first calls, pools
        await settle(cluster)
        for users in levels:
            print(f"[{name}] {users} users ...", flush=True)
            result = await level(cluster, users, PER_USER.get(users, 2), name)
            out["levels"][str(users)] = result
            keys = ("p50_ms", "p95_ms", "p99_ms", "lost", "inside_rasa", "throughput_turns_per_s")
            print(json.dumps({k: result[k] for k in keys}))
            await settle(cluster)
        if profile and replicas == 1:
            raw = ROOT / "var" / f"profile-{name}.raw.txt"
            spy = start_profiler(cluster.replica(0).pid, raw)
            await asyncio.sleep(1.0)
            out["profiled_level"] = await level(cluster, 50, 2, f"{name}-profile")
            spy.send_signal(signal.SIGINT)
            _, err = spy.communicate(timeout=60)
            if not raw.exists():
                sys.exit(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
            out["profile"] = summarize_profile(raw)
    finally:
        cluster.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"of {', '.join(RUNS)}")
    parser.add_argument("--levels", default="", help="e.g. 10,50 (default: each run's own)")
    parser.add_argument("--profile", action="store_true", help="py-spy at 50 users (1 replica)")
    parser.add_argument("--report", action="store_true", help="only rewrite the reports")
    args = parser.parse_args()
    if args.report:
        data = json.loads((OUT / "latency.json").read_text())
        write_profile(data, OUT)
        return 0 if render(data, OUT) else 1
    model = args.model or newest_model()
    if model is None:
        sys.exit("no model in models/: run `make model` first")
    missing = [v for v in ("CHATOPS_TEST_PG_URL", "CHATOPS_TEST_REDIS_URL") if v not in os.environ]
    if missing:
        sys.exit(f"set {', '.join(missing)}: `scripts/services.sh start` prints them")
    path = OUT / "latency.json"
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for name in args.runs.split(","):
        levels = [int(x) for x in args.levels.split(",")] if args.levels else list(RUNS[name][2])
        result = asyncio.run(run(name, model, levels, args.profile))
        previous = data["runs"].get(name, {})
        if args.levels:  # keep the levels not run this time
            result["levels"] = {**previous.get("levels", {}), **result["levels"]}
        if not args.profile and "profile" in previous:
            result["profile"], result["profiled_level"] = (
                previous["profile"],
                previous.get("profiled_level"),
            )
        data["runs"][name] = result
        data.update(model=model.name, cpus=os.cpu_count(), date=time.strftime("%Y-%m-%d"))
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    ok = render(data, OUT)
    if args.profile:
        write_profile(data, OUT)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
