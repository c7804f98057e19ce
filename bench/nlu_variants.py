"""Compare NLU pipeline variants on the held-out set (tests/nlu/, never trained on).

For each config in bench/configs/ (a full copy of config.yml with only the pipeline changed):
- train:    ``rasa train --config <cfg> --domain domain.yml --data data --out /tmp/nlu-variants
            --fixed-model-name <name>`` in a subprocess, wall time measured; each training gets
            a fresh, empty Rasa training cache, so no variant reuses another's featurizer output.
            A full model (NLU and the rules), so bench/cold_start.py can serve it as the bot;
- evaluate: scripts/nlu_report.evaluate (the same scorer as ``make nlu-gate``) in a fresh Python
            process per variant, with Agent.load wrapped to time the model load on its own. A
            fresh process means every variant pays a cold start (TensorFlow import, DIET graph
            tracing), which is what a bot restart pays.

Entity F1 "rasa" is Rasa's token-level report of the variant's entity extractor (DIETClassifier,
or CRFEntityExtractor for the TensorFlow-free variant); nlu_report reads only DIET's, so the
lookup is repeated here. Value-level entity F1 and whole-frame accuracy come from nlu_report.

Writes bench/results/nlu_variants.json and bench/results/nlu_variants.md (after every variant).
Usage: python bench/nlu_variants.py [--only shipped tf-free] [--skip-train]
       python bench/nlu_variants.py --render-only [--conclusion file.md]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from bench.variants_report import conclude
from bench.variants_report import markdown as variants_table

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "bench" / "configs"
RESULTS = ROOT / "bench" / "results"
WORK = Path("/tmp/nlu-variants")
HELD_OUT = ROOT / "tests" / "nlu"

# (name, what changes) in table order; each name is bench/configs/<name>.yml.
VARIANTS = [
    ("shipped", "config.yml as shipped (DIET + CatalogEntityMatcher)"),
    ("no-matcher", "without CatalogEntityMatcher (config.yml before issue 12)"),
    ("no-char-ngrams", "without the char_wb 1-4 CountVectorsFeaturizer"),
    ("diet-100-epochs", "DIET epochs 50 -> 100"),
    ("diet-small", "DIET with 1 transformer layer of 128 (not 2 x 256)"),
    ("tf-free-matcher", "LogisticRegressionClassifier + CRFEntityExtractor instead of DIET"),
]
# Which entity extractor's token-level report counts as the variant's "rasa entity F1".
EXTRACTOR_PREFERENCE = ["DIETClassifier", "CRFEntityExtractor"]
TRAIN_TIMEOUT_S = 1200


def markdown(report: Dict[str, Any], conclusion: str) -> str:
    """variants_report's table, then whole-frame accuracy per phenomenon and the gate."""
    text = variants_table(report, conclusion).replace(
        "Train s: wall time of `rasa train nlu`", "Train s: wall time of `rasa train` (NLU + rules)"
    )
    rows = [v for v in report["variants"] if v.get("per_tag")]
    if not rows:
        return text
    tags = sorted({t for v in rows for t in v["per_tag"]})
    lines = [
        "Whole-frame accuracy per phenomenon (file stem under `tests/nlu/`); the gate wants "
        "≥ 85% in each, ≥ 90% overall, intent ≥ 95%, value entity F1 ≥ 93%.",
        "",
        "| variant | " + " | ".join(tags) + " | gate |",
        "|---|" + "---|" * (len(tags) + 1),
    ]
    for v in rows:
        cells = [
            f"{100 * v['per_tag'][t]['whole_frame_accuracy']:.1f}%" if t in v["per_tag"] else "–"
            for t in tags
        ]
        gate = "pass" if not v.get("gate_failures") else "FAIL: " + "; ".join(v["gate_failures"])
        lines.append(f"| {v['name']} | " + " | ".join(cells) + f" | {gate} |")
    n = {t: rows[0]["per_tag"][t]["n"] for t in tags if t in rows[0]["per_tag"]}
    lines += ["", "Sentences per phenomenon: " + ", ".join(f"{t} {k}" for t, k in n.items())]
    return text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"


def env() -> Dict[str, str]:
    e = dict(os.environ)
    e.update(
        PYTHONPATH=str(ROOT),
        PYTHONWARNINGS="ignore",
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_TELEMETRY_ENABLED="false",
    )
    return e


def pipeline(path: Path) -> List[Dict[str, Any]]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]


def data_fingerprint() -> str:
    """sha256 over data/ (what the variants train on) and tests/nlu (what they are scored on)."""
    h = hashlib.sha256()
    for folder in (ROOT / "data", HELD_OUT):
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def train(name: str) -> Dict[str, Any]:
    model = WORK / f"{name}.tar.gz"
    cache = WORK / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    model.unlink(missing_ok=True)
    cmd = [
        str(Path(sys.executable).parent / "rasa"),
        "train",
        "--config",
        str(CONFIGS / f"{name}.yml"),
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(WORK),
        "--fixed-model-name",
        name,
    ]
    e = env()
    e["RASA_CACHE_DIRECTORY"] = str(cache)  # cold cache; keeps /work/main/.rasa untouched
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_S
        )
        seconds = time.perf_counter() - started
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        seconds, rc = time.perf_counter() - started, -1
        out = f"timed out after {TRAIN_TIMEOUT_S}s\n{exc.stdout!r}{exc.stderr!r}"
    (WORK / f"{name}-train.log").write_text(out, encoding="utf-8")
    shutil.rmtree(cache, ignore_errors=True)
    result: Dict[str, Any] = {"train_s": round(seconds, 1), "model": str(model)}
    if rc != 0 or not model.exists():
        errors = [line for line in out.splitlines() if "Error" in line or "Exception" in line]
        result["error"] = (errors[-1] if errors else (out.strip().splitlines() or ["?"])[-1])[:300]
    else:
        result["model_mb"] = round(model.stat().st_size / 1e6, 1)
    return result


def evaluate_child(model: Path, out: Path, dest: Path) -> None:
    """Runs in a fresh process: score `model` with nlu_report.evaluate, timing Agent.load."""
    import asyncio
    import logging

    sys.path.insert(0, str(ROOT / "scripts"))
    t0 = time.perf_counter()
    from rasa.core.agent import Agent

    import_s = time.perf_counter() - t0
    tf_before = "tensorflow" in sys.modules
    import nlu_report
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # as nlu_report.main: no per-example debug logs
    logging.getLogger().setLevel(logging.WARNING)

    loads: List[float] = []
    original = Agent.load.__func__

    def timed_load(cls, *args, **kwargs):  # evaluate() loads once; time exactly that call
        started = time.perf_counter()
        try:
            return original(cls, *args, **kwargs)
        finally:
            loads.append(time.perf_counter() - started)

    Agent.load = classmethod(timed_load)

    # run_evaluation hands back the raw report dicts; nlu_report only reads DIET's entity
    # report, so catch the raw result to read the variant's own extractor.
    import rasa.nlu.test as rasa_test

    raw: Dict[str, Any] = {}
    run_evaluation = rasa_test.run_evaluation

    async def capture(*args, **kwargs):
        raw["result"] = await run_evaluation(*args, **kwargs)
        return raw["result"]

    rasa_test.run_evaluation = capture
    t1 = time.perf_counter()
    result = asyncio.run(nlu_report.evaluate(model, HELD_OUT, out))
    eval_s = time.perf_counter() - t1

    reports = (raw.get("result") or {}).get("entity_evaluation") or {}
    extractor = next(
        (x for x in EXTRACTOR_PREFERENCE if x in reports), next(iter(sorted(reports)), None)
    )
    micro = (reports.get(extractor) or {}).get("report", {}).get("micro avg", {})
    bot = result["bot"]
    dest.write_text(
        json.dumps(
            {
                "import_rasa_s": round(import_s, 1),
                "load_s": round(loads[0], 1) if loads else None,
                "tensorflow_imported": {
                    "before_load": tf_before,
                    "after_load": "tensorflow" in sys.modules,
                },
                "eval_s": round(eval_s - (loads[0] if loads else 0.0), 1),
                "rasa_intent_accuracy": result["rasa"]["intent_accuracy"],
                "rasa_entity_extractor": extractor,
                "rasa_entity_reports": sorted(reports),
                "rasa_entity_precision": round(micro.get("precision", 0.0), 4),
                "rasa_entity_recall": round(micro.get("recall", 0.0), 4),
                "rasa_entity_f1": round(micro.get("f1-score", 0.0), 4),
                "value_intent_accuracy": bot["intent_accuracy"],
                "value_entity_precision": bot["entity_precision"],
                "value_entity_recall": bot["entity_recall"],
                "value_entity_f1": bot["entity_f1"],
                "whole_frame_accuracy": bot["whole_frame_accuracy"],
                "n": bot["n"],
                "fallbacks": sum(m["predicted"][0] == "nlu_fallback" for m in result["misses"]),
                "per_tag": result["per_tag"],
                "gate_failures": nlu_report.gate_failures(result),
                "misses": result["misses"],
                "nlu_report_markdown": nlu_report.markdown(result),
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )


def evaluate(name: str, model: Path) -> Dict[str, Any]:
    dest = WORK / f"{name}-eval.json"
    dest.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--evaluate-one",
            str(model),
            str(WORK / f"{name}-report"),
            str(dest),
        ],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
    )
    (WORK / f"{name}-eval.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0 or not dest.exists():
        lines = (proc.stdout + proc.stderr).strip().splitlines() or ["?"]
        return {"error": "evaluation failed: " + lines[-1][:300]}
    return json.loads(dest.read_text(encoding="utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[n for n, _ in VARIANTS])
    parser.add_argument(
        "--skip-train",
        action="store_true",
        help="reuse /tmp/nlu-variants/<name>.tar.gz and the recorded train time",
    )
    parser.add_argument(
        "--conclusion",
        type=Path,
        help="file with the conclusion paragraph (default: generated from numbers)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="no training: rewrite nlu_variants.md from nlu_variants.json",
    )
    parser.add_argument(
        "--evaluate-one", nargs=3, metavar=("MODEL", "OUT", "DEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.evaluate_one:
        model, out, dest = args.evaluate_one
        evaluate_child(Path(model), Path(out), Path(dest))
        return 0

    if args.render_only:  # rewrite the markdown (and conclusion) from the existing JSON
        out_json = RESULTS / "nlu_variants.json"
        saved = json.loads(out_json.read_text("utf-8"))
        conclusion = (
            args.conclusion.read_text("utf-8").strip()
            if args.conclusion
            else conclude(saved["variants"])
        )
        saved["conclusion"] = conclusion
        out_json.write_text(json.dumps(saved, ensure_ascii=False, indent=1) + "\n", "utf-8")
        (RESULTS / "nlu_variants.md").write_text(markdown(saved, conclusion), "utf-8")
        print(markdown(saved, conclusion))
        return 0

    if pipeline(CONFIGS / "shipped.yml") != pipeline(ROOT / "config.yml"):
        print("bench/configs/shipped.yml's pipeline differs from config.yml: update it first")
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS / "nlu_variants.json"
    previous = {}
    fingerprint = data_fingerprint()
    if out_json.exists():
        # Rows measured on other training or held-out data are not comparable: dropped.
        previous = {
            v["name"]: v
            for v in json.loads(out_json.read_text("utf-8"))["variants"]
            if v.get("data_fingerprint") == fingerprint
        }

    report: Dict[str, Any] = {
        "held_out": "tests/nlu",
        "data_fingerprint": fingerprint,
        "machine": f"{os.cpu_count()} CPUs",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "variants": [],
    }
    for name, change in VARIANTS:
        if args.only and name not in args.only:
            if name in previous:
                report["variants"].append(previous[name])
            continue
        row: Dict[str, Any] = {
            "name": name,
            "change": change,
            "config": f"bench/configs/{name}.yml",
            "data_fingerprint": report["data_fingerprint"],
        }
        model = WORK / f"{name}.tar.gz"
        if args.skip_train and model.exists():
            row.update(train_s=previous.get(name, {}).get("train_s"), model=str(model))
        else:
            print(f"[{name}] training ...", flush=True)
            row.update(train(name))
        if "error" not in row:
            print(f"[{name}] trained in {row['train_s']} s; evaluating ...", flush=True)
            row.update(evaluate(name, model))
        print(
            f"[{name}] "
            + json.dumps(
                {k: v for k, v in row.items() if k not in ("misses", "nlu_report_markdown")},
                ensure_ascii=False,
            ),
            flush=True,
        )
        report["variants"].append(row)
        report["n"] = row.get("n", report.get("n"))
        out_json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")

    conclusion = (
        args.conclusion.read_text("utf-8").strip()
        if args.conclusion
        else conclude(report["variants"])
    )
    report["conclusion"] = conclusion
    out_json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", "utf-8")
    md = markdown(report, conclusion)
    (RESULTS / "nlu_variants.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
