"""Speed benchmarks (make bench): model load, NLU parse latency, reply latency end to end.

Results go to bench/results/speed.json and speed.md; accuracy lives in nlu.json/nlu.md
(scripts/nlu_report.py). Targets are checked here, never in unit tests:
- a reply reaches DingTalk within 2 s (p95) of the message;
- NLU parse p95 under 100 ms on 2 CPUs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.stack import ChatClient, Ports, Stack, newest_model  # noqa: E402
from scripts.nlu_report import load_examples  # noqa: E402

REPLY_P95_TARGET_S = 2.0
PARSE_P95_TARGET_MS = 100.0
SENTENCES = [
    "把订单服务发到测试环境",
    "刚才的发布怎么样了",
    "有哪些服务",
    "帮助",
    "任务 3 怎么样了",
    "发布一下",
    "算了",
]


def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def nlu_speed(model: Path) -> Dict[str, float]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # parse_message logs every message at debug level

    started = time.perf_counter()
    agent = Agent.load(model_path=str(model))
    load_s = time.perf_counter() - started
    texts = [text for text, *_ in load_examples(ROOT / "tests" / "nlu")]
    await agent.parse_message(texts[0])  # warm-up
    timings = []
    for text in texts:
        t0 = time.perf_counter()
        await agent.parse_message(text)
        timings.append((time.perf_counter() - t0) * 1000)
    return {
        "model_load_s": round(load_s, 1),
        "parse_n": len(texts),
        "parse_p50_ms": round(statistics.median(timings), 1),
        "parse_p95_ms": round(pct(timings, 0.95), 1),
    }


def reply_latency(model: Path) -> Dict[str, float]:
    # Pacing at DingTalk's 20/min would measure DingTalk's throttle, not the bot.
    stack = Stack(
        model=model,
        ports=Ports.free(),
        waiting_seconds=0.3,
        running_seconds=1.0,
        send_per_minute=600,
    )
    t0 = time.perf_counter()
    stack.start()
    startup_s = time.perf_counter() - t0
    latencies = []
    try:
        for round_ in range(3):
            chat = ChatClient(stack, conversation=f"cid-bench-{round_}-{time.time_ns()}")
            for text in SENTENCES:
                chat.messages()
                sent = time.perf_counter()
                chat.say(text)
                while time.perf_counter() - sent < 10:
                    if chat.messages():
                        latencies.append(time.perf_counter() - sent)
                        break
                    time.sleep(0.02)
            chat.close()
    finally:
        stack.stop()
    return {
        "stack_startup_s": round(startup_s, 1),
        "replies": len(latencies),
        "reply_p50_s": round(statistics.median(latencies), 3),
        "reply_p95_s": round(pct(latencies, 0.95), 3),
    }


def main() -> int:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else newest_model()
    if model is None:
        sys.exit("no model in models/: run `make model` first")
    result: Dict[str, Any] = {
        "model": model.name,
        **asyncio.run(nlu_speed(model)),
        **reply_latency(model),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    ok_reply = result["reply_p95_s"] <= REPLY_P95_TARGET_S
    ok_parse = result["parse_p95_ms"] <= PARSE_P95_TARGET_MS
    md = (
        f"Model `{model.name}` on this machine (2 CPUs).\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| model load (Agent.load) | {result['model_load_s']} s | |\n"
        f"| whole stack start-up (4 processes) | {result['stack_startup_s']} s | |\n"
        f"| NLU parse p50 / p95 ({result['parse_n']} sentences) | {result['parse_p50_ms']} / "
        f"{result['parse_p95_ms']} ms | p95 ≤ {PARSE_P95_TARGET_MS:.0f} ms "
        f"{'✅' if ok_parse else '❌'} |\n"
        f"| DingTalk message → first reply p50 / p95 ({result['replies']} replies) | "
        f"{result['reply_p50_s']} / {result['reply_p95_s']} s | p95 ≤ {REPLY_P95_TARGET_S} s "
        f"{'✅' if ok_reply else '❌'} |\n"
    )
    (out / "speed.md").write_text(md, encoding="utf-8")
    print(md)
    return 0 if ok_reply and ok_parse else 1


if __name__ == "__main__":
    sys.exit(main())
