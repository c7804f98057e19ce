"""New services without retraining (issue 12 point 4): how often an existing model understands
a deploy request for a service that was added to the catalog after it was trained.

1. A copy of catalog.yml gets `NEW_SERVICES` (names and Chinese aliases that appear nowhere in
   data/ or tests/nlu/; checked at start).
2. Deploy sentences for them come from `TEMPLATES`, written for this benchmark (not taken from
   any data set): every template x every new service x three ways to name it (the service name,
   its Chinese alias, the short name derived from the alias, e.g. 评价服务 -> 评价), with the
   environment rotating through the catalog's spellings.
3. The EXISTING model is loaded in a fresh process with ``CATALOG_PATH`` pointing at the grown
   catalog (no retrain; the catalog matcher reads the catalog when the model loads) and parses
   every sentence. Recognised = intent ``deploy`` and the service entities are exactly the new
   service. Environment and whole frame (service + environment) are reported too.
4. For comparison the same model with the old catalog (what the bot did before someone edited
   the catalog), and, with ``--baseline MODEL``, another model (e.g. the pipeline without the
   matcher). ``--retrain`` also trains a model on data regenerated from the grown catalog
   ("retraining still improves it") in /tmp and scores it the same way.

Writes bench/results/no_retrain.json and bench/results/no_retrain.md.
Usage: python -m bench.no_retrain --model /tmp/nlu-variants/shipped.tar.gz
       [--baseline /tmp/nlu-variants/no-matcher.tar.gz] [--retrain | --retrained MODEL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
WORK = Path("/tmp/no-retrain")
TARGET = 0.90

# (name, Chinese alias): none of these strings occurs in data/ or tests/nlu/.
NEW_SERVICES: List[Tuple[str, str]] = [
    ("review-service", "评价服务"),
    ("search-service", "搜索服务"),
    ("risk-control", "风控服务"),
    ("statement-service", "账单服务"),
    ("aftersale-service", "售后服务"),
    ("storage-hub", "仓储服务"),
]
# Ordinary deploy requests, written for this benchmark. {s}: the service, {e}: the environment.
TEMPLATES = [
    "把{s}发到{e}",
    "{s}部署到{e}",
    "帮我发一下{s}到{e}",
    "麻烦把{s}上到{e}，谢谢",
    "{e}发一版{s}",
    "{s}发一下{e}",
    "请将{s}发布到{e}",
    "给{e}部署一下{s}",
    "{s}重新发一下{e}吧",
    "deploy {s} to {e}",
]
ENVIRONMENTS: List[Tuple[str, str]] = [
    ("测试环境", "test"),
    ("预发", "uat"),
    ("生产", "prod"),
    ("dev", "dev"),
    ("测试", "test"),
    ("uat", "uat"),
    ("开发环境", "dev"),
    ("线上", "prod"),
]
FORMS = ("name", "alias", "short")


def grown_catalog(dest: Path) -> Path:
    """catalog.yml with `NEW_SERVICES` added at the top of its services."""
    text = (ROOT / "catalog.yml").read_text(encoding="utf-8")
    head, tail = text.split("\nservices:\n", 1)
    added = "".join(f"  {name}:\n    aliases: [{alias}]\n" for name, alias in NEW_SERVICES)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(head + "\nservices:\n" + added + tail, encoding="utf-8")
    return dest


def unseen_check() -> List[str]:
    """Strings of `NEW_SERVICES` that do occur in the training or held-out data (should be none)."""
    corpus = "".join(
        p.read_text(encoding="utf-8").lower()
        for folder in (ROOT / "data", ROOT / "tests" / "nlu")
        for p in folder.rglob("*.yml")
    )
    return [s for pair in NEW_SERVICES for s in pair if s.lower() in corpus]


def sentences() -> List[Dict[str, str]]:
    from chatops.catalog.fuzzy import derive_short_aliases
    from chatops.catalog.loader import load_catalog

    shorts = {
        v: k
        for k, v in derive_short_aliases(load_catalog(grown_catalog(WORK / "c.yml"))).items()
        if not k.isascii()
    }
    out = []
    i = 0
    for name, alias in NEW_SERVICES:
        spellings = {"name": name, "alias": alias, "short": shorts[name]}
        for form in FORMS:
            for template in TEMPLATES:
                env_text, env = ENVIRONMENTS[i % len(ENVIRONMENTS)]
                i += 1
                out.append(
                    {
                        "text": template.format(s=spellings[form], e=env_text),
                        "service": name,
                        "environment": env,
                        "form": form,
                    }
                )
    return out


def parse_child(model: Path, cases: Path, dest: Path) -> None:
    """In a fresh process (CATALOG_PATH already set): load the model, parse every sentence."""
    import asyncio
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    started = time.perf_counter()
    agent = Agent.load(model_path=str(model))
    load_s = time.perf_counter() - started
    rows = json.loads(cases.read_text(encoding="utf-8"))

    async def run() -> None:
        for row in rows:
            parsed = await agent.parse_message(row["text"])
            row["intent"] = parsed["intent"]["name"]
            row["entities"] = sorted(
                {(e["entity"], str(e["value"])) for e in parsed.get("entities", [])}
            )

    asyncio.run(run())
    dest.write_text(
        json.dumps({"load_s": round(load_s, 1), "rows": rows}, ensure_ascii=False), "utf-8"
    )


def measure(label: str, model: Path, catalog: Path, cases: Path) -> Dict[str, Any]:
    dest = WORK / f"{label}.json"
    dest.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "CATALOG_PATH": str(catalog),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.no_retrain",
            "--parse-one",
            str(model),
            str(cases),
            str(dest),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    (WORK / f"{label}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0 or not dest.exists():
        return {"label": label, "error": (proc.stdout + proc.stderr).strip().splitlines()[-1:]}
    result = json.loads(dest.read_text(encoding="utf-8"))
    return {"label": label, "model": model.name, "catalog": catalog.name, **score(result)}


def score(result: Dict[str, Any]) -> Dict[str, Any]:
    rows = result["rows"]

    def rate(items: List[Dict[str, Any]], key: str) -> float:
        return round(sum(r[key] for r in items) / len(items), 4) if items else 0.0

    for r in rows:
        services = {v for k, v in map(tuple, r["entities"]) if k == "service"}
        envs = {v for k, v in map(tuple, r["entities"]) if k == "environment"}
        r["recognised"] = r["intent"] == "deploy" and services == {r["service"]}
        r["environment_right"] = envs == {r["environment"]}
        r["frame_right"] = r["recognised"] and r["environment_right"] and len(r["entities"]) == 2
    return {
        "load_s": result["load_s"],
        "n": len(rows),
        "recognised": rate(rows, "recognised"),
        "environment_right": rate(rows, "environment_right"),
        "whole_frame": rate(rows, "frame_right"),
        "by_form": {f: rate([r for r in rows if r["form"] == f], "recognised") for f in FORMS},
        "by_service": {
            s: rate([r for r in rows if r["service"] == s], "recognised") for s, _ in NEW_SERVICES
        },
        "intent_not_deploy": sum(r["intent"] != "deploy" for r in rows),
        "failures": [
            {"text": r["text"], "intent": r["intent"], "entities": r["entities"]}
            for r in rows
            if not r["recognised"]
        ],
    }


def retrain(catalog: Path) -> Optional[Path]:
    """A model trained on data/ regenerated from the grown catalog (in /tmp, repo untouched)."""
    from chatops.catalog.loader import load_catalog
    from scripts.generate_nlu import render_nlu, render_userdict

    grown = load_catalog(catalog)
    work = WORK / "retrain"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(ROOT / "data", work / "data")
    (work / "data" / "nlu" / "catalog.generated.yml").write_text(render_nlu(grown), "utf-8")
    (work / "data" / "jieba" / "userdict.txt").write_text(render_userdict(grown), "utf-8")
    config = (ROOT / "bench" / "configs" / "shipped.yml").read_text(encoding="utf-8")
    config = config.replace("dictionary_path: data/jieba", f"dictionary_path: {work}/data/jieba")
    (work / "config.yml").write_text(config, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "RASA_CACHE_DIRECTORY": str(work / "cache"),
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "--config",
            str(work / "config.yml"),
            "--domain",
            str(ROOT / "domain.yml"),
            "--data",
            str(work / "data"),
            "--out",
            str(work),
            "--fixed-model-name",
            "retrained",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    (work / "train.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    model = work / "retrained.tar.gz"
    return model if proc.returncode == 0 and model.exists() else None


def conclude(runs: List[Dict[str, Any]], ok: bool) -> str:
    def rate(label: str, catalog: str) -> Optional[float]:
        for r in runs:
            if r.get("label") == label and r.get("catalog_label") == catalog and "error" not in r:
                return float(r["recognised"])
        return None

    pct = lambda x: "–" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    text = (
        f"**{'Passed' if ok else 'Not reached'}:** after a restart with the grown catalog and no "
        f"retrain, {pct(rate('no retrain', 'grown'))} of the sentences are understood (target "
        f"{TARGET:.0%}); with the old catalog the same model understands "
        f"{pct(rate('no retrain', 'old'))} (only the ASCII names, which DIET tags as unknown "
        "services; their value is already the catalog key)."
    )
    retrained = rate("retrained", "grown")
    if retrained is not None:
        text += (
            f" A model retrained on the grown catalog gets {pct(retrained)}: once trained, the "
            "new names are spellings the model has seen, which the catalog matcher leaves to "
            "DIET (nlu_components/catalog_matcher.py), and DIET alone misses a few."
        )
    return text


def markdown(report: Dict[str, Any]) -> str:
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        "New services without retraining (issue 12 point 4), written by `bench/no_retrain.py`.",
        "",
        f"{len(NEW_SERVICES)} services added to a copy of `catalog.yml` after training "
        f"({', '.join(f'{n} [{a}]' for n, a in NEW_SERVICES)}); none of these strings occurs "
        "in `data/` or `tests/nlu/`. "
        f"{report['n']} deploy sentences from {len(TEMPLATES)} templates written for this "
        "benchmark (listed in the script), each service named three ways: its name, its "
        "Chinese alias, and the short name derived from the alias. Recognised = intent "
        "`deploy` and exactly the new service as `service`. "
        f"Target: ≥ {TARGET:.0%} with no retrain.",
        "",
        "| model | catalog at load | recognised | by name / alias / short | environment right "
        "| whole frame | not deploy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        if "error" in r:
            lines.append(f"| {r['label']} | – | FAILED {r['error']} | | | | |")
            continue
        forms = " / ".join(pct(r["by_form"][f]) for f in FORMS)
        lines.append(
            f"| {r['label']} (`{r['model']}`) | {r['catalog_label']} | **{pct(r['recognised'])}** "
            f"| {forms} | {pct(r['environment_right'])} | {pct(r['whole_frame'])} "
            f"| {r['intent_not_deploy']} |"
        )
    lines += ["", report["conclusion"], ""]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, help="model trained WITH the catalog matcher")
    parser.add_argument("--baseline", type=Path, help="another model to compare (optional)")
    parser.add_argument("--retrain", action="store_true", help="also train on the grown catalog")
    parser.add_argument(
        "--retrained", type=Path, help="score this model, trained on the grown catalog before"
    )
    parser.add_argument("--parse-one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--render-only", action="store_true", help="rewrite the markdown")
    args = parser.parse_args(argv)
    if args.parse_one:
        parse_child(*(Path(p) for p in args.parse_one))
        return 0
    if args.render_only:
        saved = json.loads((RESULTS / "no_retrain.json").read_text("utf-8"))
        saved["conclusion"] = conclude(saved["runs"], saved["passed"])
        (RESULTS / "no_retrain.json").write_text(
            json.dumps(saved, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        (RESULTS / "no_retrain.md").write_text(markdown(saved), encoding="utf-8")
        print(markdown(saved))
        return 0
    if args.model is None or not args.model.is_file():
        print("no_retrain: --model must name a model file", file=sys.stderr)
        return 2
    seen = unseen_check()
    if seen:
        print(f"no_retrain: these new names already occur in the data: {seen}", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    catalog = grown_catalog(WORK / "catalog.yml")
    cases = WORK / "cases.json"
    cases.write_text(json.dumps(sentences(), ensure_ascii=False, indent=1), "utf-8")
    runs = []
    plan = [
        ("no retrain", args.model, catalog, "grown"),
        ("no retrain", args.model, ROOT / "catalog.yml", "old"),
    ]
    if args.baseline:
        plan.append(("baseline", args.baseline, catalog, "grown"))
    for label, model, cat, cat_label in plan:
        print(f"[{label} / {cat_label} catalog] {model.name} ...", flush=True)
        stem = model.name.split(".")[0]
        run = measure(f"{label}-{cat_label}-{stem}".replace(" ", "-"), model, cat, cases)
        run.update(label=label, catalog_label=cat_label)
        runs.append(run)
    if args.retrained:
        run = measure("retrained", args.retrained, catalog, cases)
        run.update(label="retrained", catalog_label="grown")
        runs.append(run)
    elif args.retrain:
        print("[retrained] training on the grown catalog ...", flush=True)
        started = time.perf_counter()
        model = retrain(catalog)
        if model is None:
            runs.append({"label": "retrained", "error": "training failed (see /tmp/no-retrain)"})
        else:
            run = measure("retrained", model, catalog, cases)
            run.update(
                label="retrained",
                catalog_label="grown",
                train_s=round(time.perf_counter() - started),
            )
            runs.append(run)
    main_run = runs[0]
    ok = "error" not in main_run and main_run["recognised"] >= TARGET
    report: Dict[str, Any] = {
        "target": TARGET,
        "n": len(json.loads(cases.read_text("utf-8"))),
        "new_services": NEW_SERVICES,
        "templates": TEMPLATES,
        "runs": runs,
        "passed": ok,
    }
    report["conclusion"] = conclude(runs, ok)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "no_retrain.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (RESULTS / "no_retrain.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
