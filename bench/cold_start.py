"""Cold start (issue 12 point 5): how long a model takes to load and how much memory the Rasa
server holds, per pipeline variant, with the accuracy each one keeps.

For every variant model (trained by bench/nlu_variants.py into /tmp/nlu-variants/<name>.tar.gz,
a full model: NLU and rules):
- **load**: in a fresh Python process, `import rasa.core.agent` (which imports TensorFlow in
  every variant) and then `Agent.load` are timed separately; `LOAD_REPEATS` processes, median.
  The process's peak RSS after the load is recorded too;
- **accuracy**: the same process scores the held-out set with scripts/nlu_report.evaluate (the
  gate's scorer): whole frame, per phenomenon, gate pass/fail;
- **server**: the whole bot is started as in the demo and the end-to-end tests (devstack.Stack:
  both simulators, the action server, ``rasa run`` with credentials.yml), the time from spawning
  ``rasa run`` to its channel answering is measured, `SENTENCES` are said through the DingTalk
  simulator, and the Rasa server's peak RSS (VmHWM from /proc, its process and children) is
  read after the replies.

"fast-load" rows load the same model file with DIET's load-time build step run eagerly: Rasa's
``RasaModel.load`` builds the network by fitting one example (keras ``fit``), which traces the
whole *training* graph (gradients, optimizer) only to throw it away before loading the weights;
that tracing is most of the load time and a third of the memory. Fast-load fits that one example
eagerly (no tracing), loads the weights, switches back to graph mode and traces only the predict
function. The weights, and so every prediction, are those of the same file: accuracy is scored
again anyway. It is applied here by patching `RasaModel.load` in the measured process (for the
server, through a sitecustomize module on its PYTHONPATH); in the bot it is a DIETClassifier
subclass with the same few lines (nlu_components/fast_load_diet.py), which config.yml and
bench/configs/shipped.yml now use. The committed results were measured before that change, so
their `shipped` rows are the stock load; rerun on a model trained with the old
``name: DIETClassifier`` to compare again.

Writes bench/results/cold_start.json and bench/results/cold_start.md.
Usage: python -m bench.cold_start [--only shipped catalog-matcher ...] [--no-server]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import SENTENCES  # noqa: E402  (the same seven messages as make bench)
from devstack.process import ServerProcess  # noqa: E402
from devstack.stack import ChatClient, Ports, Stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODELS = Path("/tmp/nlu-variants")
WORK = Path("/tmp/cold-start")
LOAD_TARGET_S = 15.0
RSS_TARGET_MB = 1000.0
LOAD_REPEATS = 3
# (row name, model name in /tmp/nlu-variants, fast-load)
VARIANTS: List[Tuple[str, str, bool]] = [
    ("shipped", "shipped", False),
    ("shipped + fast-load", "shipped", True),
    ("no-matcher", "no-matcher", False),
    ("diet-small", "diet-small", False),
    ("diet-small + fast-load", "diet-small", True),
    ("tf-free-matcher", "tf-free-matcher", False),
]
FAST_LOAD_ENV = "CHATOPS_BENCH_FAST_LOAD"


def apply_fast_load() -> None:
    """Patch RasaModel.load: build by an eager one-example fit, then trace only prediction."""
    from rasa.utils.tensorflow import models
    from rasa.utils.tensorflow.constants import RUN_EAGERLY

    original = models.RasaModel.load.__func__

    def load(
        cls,
        model_file_name,
        model_data_example,
        predict_data_example=None,
        finetune_mode=False,
        *args,
        **kwargs,
    ):
        if finetune_mode:
            return original(
                cls,
                model_file_name,
                model_data_example,
                predict_data_example,
                True,
                *args,
                **kwargs,
            )
        kwargs["config"] = {**kwargs.get("config", {}), RUN_EAGERLY: True}
        model = original(cls, model_file_name, model_data_example, None, True, *args, **kwargs)
        model.run_eagerly = False  # predictions run as a traced tf.function again
        if predict_data_example:
            model.run_inference(predict_data_example)  # trace the predict graph now, not later
        return model

    models.RasaModel.load = classmethod(load)


# Only in `rasa run` (the action server shares the environment but has no model).
SITECUSTOMIZE = f"""
import os, sys
serving = sys.argv[1:2] == ["run"] and "actions" not in sys.argv
if os.environ.get("{FAST_LOAD_ENV}") == "1" and serving:
    from bench.cold_start import apply_fast_load
    apply_fast_load()
"""


# -- in a fresh process: load, RSS, accuracy -----------------------------------------------------


def load_child(model: Path, dest: Path, score: bool) -> None:
    import resource

    t0 = time.perf_counter()
    if os.environ.get(FAST_LOAD_ENV) == "1":
        apply_fast_load()  # imports rasa's TensorFlow utilities: counted as import time
    from rasa.core.agent import Agent

    import_s = time.perf_counter() - t0
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t1 = time.perf_counter()
    agent = Agent.load(model_path=str(model))
    load_s = time.perf_counter() - t1
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: Dict[str, Any] = {
        "import_s": round(import_s, 2),
        "load_s": round(load_s, 2),
        "rss_after_import_mb": round(rss_import),
        "rss_after_load_mb": round(rss_load),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    if score:
        import asyncio
        import logging

        sys.path.insert(0, str(ROOT / "scripts"))
        import nlu_report
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
        Agent.load = classmethod(lambda cls, *a, **k: agent)
        t2 = time.perf_counter()
        result = asyncio.run(nlu_report.evaluate(model, ROOT / "tests" / "nlu", WORK / "report"))
        out.update(
            eval_s=round(time.perf_counter() - t2, 1),
            intent_accuracy=result["rasa"]["intent_accuracy"],
            value_entity_f1=result["bot"]["entity_f1"],
            whole_frame_accuracy=result["bot"]["whole_frame_accuracy"],
            n=result["bot"]["n"],
            per_tag={t: m["whole_frame_accuracy"] for t, m in result["per_tag"].items()},
            gate_failures=nlu_report.gate_failures(result),
            rss_after_eval_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        )
    dest.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


def child_env(fast: bool) -> Dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
    }
    env[FAST_LOAD_ENV] = "1" if fast else "0"
    return env


def measure_load(name: str, model: Path, fast: bool) -> Dict[str, Any]:
    runs: List[Dict[str, Any]] = []
    for i in range(LOAD_REPEATS):
        dest = WORK / f"{name.replace(' ', '')}-load{i}.json"
        dest.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "bench.cold_start", "--load-one", str(model), str(dest)]
            + (["--score"] if i == 0 else []),
            cwd=ROOT,
            env=child_env(fast),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not dest.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["?"]
            return {"error": f"load failed: {tail[0][:300]}"}
        runs.append(json.loads(dest.read_text(encoding="utf-8")))
    first = runs[0]
    return {
        **{k: v for k, v in first.items() if k not in ("import_s", "load_s")},
        "import_s": round(statistics.median(r["import_s"] for r in runs), 1),
        "load_s": round(statistics.median(r["load_s"] for r in runs), 1),
        "load_s_all": [r["load_s"] for r in runs],
        "rss_after_load_mb": round(statistics.median(r["rss_after_load_mb"] for r in runs)),
    }


# -- the whole bot: time to serve, peak RSS -------------------------------------------------------


@dataclass
class TimedStack(Stack):
    spawn_s: Dict[str, float] = field(default_factory=dict)

    def _spawn(
        self,
        name: str,
        argv: List[str],
        port: int,
        health: str,
        env: Optional[Dict[str, str]] = None,
        timeout: float = 30.0,
    ) -> ServerProcess:
        started = time.perf_counter()
        proc = super()._spawn(name, argv, port, health, env=env, timeout=timeout)
        self.spawn_s[name] = time.perf_counter() - started
        return proc


def _tree(pid: int) -> List[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return pids


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_server(name: str, model: Path, fast: bool) -> Dict[str, Any]:
    site = Path(tempfile.mkdtemp(prefix="site-", dir=WORK))
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    stack = TimedStack(
        model=model,
        ports=Ports.free(),
        waiting_seconds=0.3,
        running_seconds=1.0,
        send_per_minute=600,
        extra_env={FAST_LOAD_ENV: "1" if fast else "0", "PYTHONPATH": f"{site}:{ROOT}"},
    )
    replies = 0
    try:
        stack.start()
        rasa = stack.process("rasa").proc
        assert rasa is not None
        chat = ChatClient(stack, conversation=f"cid-cold-{time.time_ns()}")
        for text in SENTENCES:
            chat.messages()
            sent = time.perf_counter()
            chat.say(text)
            while time.perf_counter() - sent < 15:
                if chat.messages():
                    replies += 1
                    break
                time.sleep(0.05)
        chat.close()
        pids = _tree(rasa.pid)
        peak = sum(_status_kb(p, "VmHWM") for p in pids) / 1024
        now = sum(_status_kb(p, "VmRSS") for p in pids) / 1024
    except Exception as exc:  # noqa: BLE001 - a failed start is a result to report
        return {"server_error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        stack.stop()
    return {
        "server_ready_s": round(stack.spawn_s.get("rasa", float("nan")), 1),
        "server_peak_rss_mb": round(peak),
        "server_rss_mb": round(now),
        "server_processes": len(pids),
        "replies": f"{replies}/{len(SENTENCES)}",
    }


# -- report ---------------------------------------------------------------------------------------


def markdown(report: Dict[str, Any]) -> str:
    pct = lambda x: "–" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        "Cold start per pipeline variant, written by `bench/cold_start.py` "
        f"({report['machine']}, {report['started']}). Targets: model load ≤ {LOAD_TARGET_S:.0f} s, "
        f"Rasa server peak RSS ≤ {RSS_TARGET_MB / 1000:.1f} GB, accuracy no worse than `shipped`.",
        "",
        "| variant | import rasa s | Agent.load s (median of "
        f"{LOAD_REPEATS}) | RSS after load MB | server start→serving s | server peak RSS MB "
        "| whole frame | intent | entity F1 (values) | gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["variants"]:
        if "error" in r:
            lines.append(f"| {r['name']} | FAILED: {r['error']} |||||||||")
            continue
        gate = "pass" if not r.get("gate_failures") else f"FAIL ({len(r['gate_failures'])})"
        lines.append(
            f"| {r['name']} | {r['import_s']} | **{r['load_s']}** | {r['rss_after_load_mb']} "
            f"| {r.get('server_ready_s', '–')} | **{r.get('server_peak_rss_mb', '–')}** "
            f"| {pct(r.get('whole_frame_accuracy'))} | {pct(r.get('intent_accuracy'))} "
            f"| {pct(r.get('value_entity_f1'))} | {gate} |"
        )
    tags = sorted({t for r in report["variants"] for t in r.get("per_tag", {})})
    if tags:
        lines += [
            "",
            "Whole frame per phenomenon:",
            "",
            "| variant | " + " | ".join(tags) + " |",
            "|---|" + "---|" * len(tags),
        ]
        for r in report["variants"]:
            if r.get("per_tag"):
                lines.append(
                    f"| {r['name']} | " + " | ".join(pct(r["per_tag"].get(t)) for t in tags) + " |"
                )
    lines += [
        "",
        "Import rasa: `import rasa.core.agent` in a fresh process (it imports TensorFlow in every "
        "variant). Agent.load: the model alone, rasa already imported. Server start→serving: "
        "spawning `rasa run` (imports, model load, channels, the follow-up worker) until its "
        "DingTalk route answers. Server peak RSS: VmHWM of the `rasa run` process (and children) "
        f"after it answered {len(SENTENCES)} DingTalk messages.",
        "",
        report.get("conclusion", ""),
        "",
    ]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", help="row names to (re)measure")
    parser.add_argument("--no-server", action="store_true", help="skip the whole-bot runs")
    parser.add_argument("--conclusion", type=Path, help="file with the conclusion paragraph")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--load-one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--score", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_one:
        model, dest = args.load_one
        load_child(Path(model), Path(dest), args.score)
        return 0
    out_json = RESULTS / "cold_start.json"
    previous: Dict[str, Any] = {}
    if out_json.exists():
        previous = {v["name"]: v for v in json.loads(out_json.read_text("utf-8"))["variants"]}
    if args.render_only:
        saved = json.loads(out_json.read_text("utf-8"))
        if args.conclusion:
            saved["conclusion"] = args.conclusion.read_text("utf-8").strip()
        out_json.write_text(json.dumps(saved, ensure_ascii=False, indent=1) + "\n", "utf-8")
        (RESULTS / "cold_start.md").write_text(markdown(saved), "utf-8")
        print(markdown(saved))
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    report: Dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs",
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "variants": [],
    }
    for name, model_name, fast in VARIANTS:
        if args.only and name not in args.only:
            if name in previous:
                report["variants"].append(previous[name])
            continue
        model = MODELS / f"{model_name}.tar.gz"
        row: Dict[str, Any] = {"name": name, "model": model_name, "fast_load": fast}
        if not model.exists():
            row["error"] = f"no model {model} (run bench/nlu_variants.py first)"
        else:
            print(f"[{name}] loading ...", flush=True)
            row.update(measure_load(name, model, fast))
            if "error" not in row and not args.no_server:
                print(f"[{name}] serving ...", flush=True)
                row.update(measure_server(name, model, fast))
        print(f"[{name}] {json.dumps(row, ensure_ascii=False)}", flush=True)
        report["variants"].append(row)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")
    if args.conclusion:
        report["conclusion"] = args.conclusion.read_text("utf-8").strip()
    out_json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")
    (RESULTS / "cold_start.md").write_text(markdown(report), "utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
