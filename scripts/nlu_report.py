"""Score the NLU on the held-out set (tests/nlu/, never trained on) and compare with the article.

One model load serves both:
- Rasa's own evaluation (`rasa.nlu.test.run_evaluation`, exactly what `rasa test nlu` runs):
  intent accuracy (gated) and DIET's token-level entity precision/recall/F1 (for reference);
- a value-level pass over the same sentences: entity values must be the contract's canonical
  values (测试环境 -> test), and "whole frame" means the intent and every entity are right.
  Entity F1 is gated here: these values are what the bot acts on, whichever component
  (DIET, the synonym mapper, the catalog matcher) produced them.
The article's bot (one RE2 regex, ``执行(\\w+)环境(\\w+)流水线``, ASCII ``\\w``) is scored on the
same sentences with the same value-level rules.

Every sentence has a phenomenon tag: the stem of the file it is in
(``tests/nlu/phenomena/typos.yml`` -> ``typos``; subfolders are read too). Whole-frame
accuracy is reported per tag. The gate: intent accuracy >= 0.95, entity F1 (values) >= 0.93,
whole frame >= 0.90, and whole frame >= 0.85 in every tag.

Writes results/nlu/ (Rasa's reports), bench/results/nlu.json (with every missed frame) and
bench/results/nlu.md. The missed sentences are printed only with --show-misses: reading them is
how held-out sentences leak into training data.
Usage: python scripts/nlu_report.py --model models/x.tar.gz [--data tests/nlu] [--gate]
       [--show-misses]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INTENT_TARGET = 0.95
ENTITY_F1_TARGET = 0.93
FRAME_TARGET = 0.90
TAG_FRAME_TARGET = 0.85

# The article's rboot rule. Go's RE2 \w is ASCII-only, so "订单服务" or "order-service" never match.
ARTICLE_RE = re.compile(r"执行([0-9A-Za-z_]+)环境([0-9A-Za-z_]+)流水线")

Frame = Tuple[str, Set[Tuple[str, str]]]


Example = Tuple[str, str, Set[Tuple[str, str]], str]


def data_files(data: Path) -> List[Path]:
    """The NLU files under ``data`` (any depth), or ``data`` itself; READMEs are not data."""
    if data.is_file():
        return [data]
    return sorted(p for p in data.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_examples(data: Path) -> List[Example]:
    """(text, intent, gold entity values, tag) for every example; the tag is the file stem."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in data_files(data):
        for message in load_data(str(path)).intent_examples:
            gold = {(e["entity"], str(e["value"])) for e in message.get("entities") or []}
            examples.append((message.get("text"), message.get("intent"), gold, path.stem))
    return examples


def article_frame(text: str) -> Frame:
    match = ARTICLE_RE.search(text)
    if not match:
        return "", set()
    return "deploy", {("environment", match.group(1)), ("service", match.group(2))}


def score(name: str, gold: List[Frame], predicted: List[Frame]) -> Dict[str, Any]:
    tp = fp = fn = 0
    frames = 0
    per_intent: Dict[str, Counter] = defaultdict(Counter)
    for (g_intent, g_ents), (p_intent, p_ents) in zip(gold, predicted):
        tp += len(g_ents & p_ents)
        fp += len(p_ents - g_ents)
        fn += len(g_ents - p_ents)
        right = g_intent == p_intent
        frames += right and g_ents == p_ents
        per_intent[g_intent]["support"] += 1
        per_intent[g_intent]["correct"] += right
        per_intent[p_intent]["predicted"] += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    intents = {}
    for intent, c in sorted(per_intent.items()):
        if not c["support"]:
            continue
        p = c["correct"] / c["predicted"] if c["predicted"] else 0.0
        r = c["correct"] / c["support"]
        intents[intent] = {
            "support": c["support"],
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
        }
    n = len(gold)
    return {
        "name": name,
        "n": n,
        "intent_accuracy": round(sum(g[0] == p[0] for g, p in zip(gold, predicted)) / n, 4),
        "entity_precision": round(precision, 4),
        "entity_recall": round(recall, 4),
        "entity_f1": round(f1, 4),
        "whole_frame_accuracy": round(frames / n, 4),
        "per_intent": intents,
    }


async def evaluate(model: Path, data: Path, out: Path) -> Dict[str, Any]:
    from rasa.core.agent import Agent
    from rasa.nlu.test import run_evaluation

    agent = Agent.load(model_path=str(model))
    rasa_result = await run_evaluation(
        str(data),
        agent.processor,
        output_directory=str(out),
        successes=True,
        errors=True,
        disable_plotting=True,
        report_as_dict=True,
    )
    examples = load_examples(data)
    gold: List[Frame] = [(intent, ents) for _, intent, ents, _ in examples]
    bot: List[Frame] = []
    misses = []
    for text, intent, ents, tag in examples:
        parsed = await agent.parse_message(text)
        frame = (
            parsed["intent"]["name"],
            {(e["entity"], str(e["value"])) for e in parsed.get("entities", [])},
        )
        bot.append(frame)
        if frame != (intent, ents):
            misses.append(
                {
                    "tag": tag,
                    "text": text,
                    "gold": [intent, sorted(ents)],
                    "predicted": [frame[0], sorted(frame[1])],
                }
            )
    article = [article_frame(text) for text, _, _, _ in examples]
    tags = [tag for _, _, _, tag in examples]

    intent_report = rasa_result["intent_evaluation"]["report"]
    entity_reports = rasa_result.get("entity_evaluation") or {}
    diet = entity_reports.get("DIETClassifier", {}).get("report", {})
    micro = diet.get("micro avg", {})
    return {
        "model": model.name,
        "data": str(data.relative_to(ROOT) if data.is_absolute() else data),
        "rasa": {
            "intent_accuracy": round(intent_report["accuracy"], 4),
            "entity_precision": round(micro.get("precision", 0.0), 4),
            "entity_recall": round(micro.get("recall", 0.0), 4),
            "entity_f1": round(micro.get("f1-score", 0.0), 4),
        },
        "bot": score("部署助手", gold, bot),
        "article": score("article regex", gold, article),
        "per_tag": per_tag(tags, gold, bot, article),
        "misses": misses,
    }


def per_tag(
    tags: List[str], gold: List[Frame], bot: List[Frame], article: List[Frame]
) -> Dict[str, Dict[str, Any]]:
    """Frame, intent and entity scores of the bot and the article for each phenomenon tag."""
    out: Dict[str, Dict[str, Any]] = {}
    for tag in sorted(set(tags)):
        idx = [i for i, t in enumerate(tags) if t == tag]
        mine = score(tag, [gold[i] for i in idx], [bot[i] for i in idx])
        theirs = score(tag, [gold[i] for i in idx], [article[i] for i in idx])
        out[tag] = {
            "n": mine["n"],
            "whole_frame_accuracy": mine["whole_frame_accuracy"],
            "intent_accuracy": mine["intent_accuracy"],
            "entity_f1": mine["entity_f1"],
            "article_whole_frame_accuracy": theirs["whole_frame_accuracy"],
        }
    return out


def gate_failures(result: Dict[str, Any]) -> List[str]:
    """What falls short of the targets (empty when the gate passes)."""
    rasa_, bot = result["rasa"], result["bot"]
    failures = []
    if rasa_["intent_accuracy"] < INTENT_TARGET:
        failures.append(f"intent accuracy {rasa_['intent_accuracy']:.3f} < {INTENT_TARGET}")
    if bot["entity_f1"] < ENTITY_F1_TARGET:
        failures.append(f"entity F1 (values) {bot['entity_f1']:.3f} < {ENTITY_F1_TARGET}")
    if bot["whole_frame_accuracy"] < FRAME_TARGET:
        failures.append(f"whole frame {bot['whole_frame_accuracy']:.3f} < {FRAME_TARGET}")
    for tag, m in result.get("per_tag", {}).items():
        if m["whole_frame_accuracy"] < TAG_FRAME_TARGET:
            failures.append(
                f"whole frame in '{tag}' {m['whole_frame_accuracy']:.3f} < {TAG_FRAME_TARGET}"
            )
    return failures


def markdown(result: Dict[str, Any]) -> str:
    bot, art, rasa_ = result["bot"], result["article"], result["rasa"]
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        f"Held-out set `{result['data']}`: {bot['n']} utterances, never trained on. "
        f"Model `{result['model']}`.",
        "",
        "| metric | 部署助手 | article's regex |",
        "|---|---|---|",
        f"| intent accuracy | {pct(bot['intent_accuracy'])} | {pct(art['intent_accuracy'])} |",
        f"| entity precision (values) | {pct(bot['entity_precision'])} "
        f"| {pct(art['entity_precision'])} |",
        f"| entity recall (values) | {pct(bot['entity_recall'])} | {pct(art['entity_recall'])} |",
        f"| entity F1 (values) | {pct(bot['entity_f1'])} | {pct(art['entity_f1'])} |",
        f"| whole frame (intent + every entity) | {pct(bot['whole_frame_accuracy'])} | "
        f"{pct(art['whole_frame_accuracy'])} |",
        "",
        f"Gate: intent accuracy (`rasa test nlu`) ≥ {INTENT_TARGET:.2f}: "
        f"**{rasa_['intent_accuracy']:.3f}**; entity F1 (values) ≥ {ENTITY_F1_TARGET:.2f}: "
        f"**{bot['entity_f1']:.3f}**; whole frame ≥ {FRAME_TARGET:.2f}: "
        f"**{bot['whole_frame_accuracy']:.3f}**; whole frame ≥ {TAG_FRAME_TARGET:.2f} in every "
        f"tag (below). For reference, Rasa's token-level report of DIET alone: precision "
        f"{rasa_['entity_precision']:.3f} / recall {rasa_['entity_recall']:.3f} / F1 "
        f"{rasa_['entity_f1']:.3f}.",
        "",
    ]
    if result.get("per_tag"):
        lines += [
            "| phenomenon (file) | n | whole frame | intent | entity F1 (values) "
            "| article's whole frame |",
            "|---|---|---|---|---|---|",
        ]
        for tag, m in result["per_tag"].items():
            mark = "" if m["whole_frame_accuracy"] >= TAG_FRAME_TARGET else " ✗"
            lines.append(
                f"| {tag} | {m['n']} | {pct(m['whole_frame_accuracy'])}{mark} "
                f"| {pct(m['intent_accuracy'])} | {pct(m['entity_f1'])} "
                f"| {pct(m['article_whole_frame_accuracy'])} |"
            )
        lines.append("")
    lines += [
        "| intent | n | precision | recall | F1 | article recall |",
        "|---|---|---|---|---|---|",
    ]
    for intent, m in bot["per_intent"].items():
        a = art["per_intent"].get(intent, {}).get("recall", 0.0)
        lines.append(
            f"| {intent} | {m['support']} | {m['precision']:.2f} | {m['recall']:.2f} "
            f"| {m['f1']:.2f} | {a:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--data", default=ROOT / "tests" / "nlu", type=Path)
    parser.add_argument("--out", default=ROOT / "results" / "nlu", type=Path)
    parser.add_argument("--gate", action="store_true", help="exit 1 below the targets")
    parser.add_argument(
        "--show-misses", action="store_true", help="print every sentence whose frame is wrong"
    )
    args = parser.parse_args(argv)
    # Rasa's loader would quietly fall back to the newest model in the folder: score exactly
    # the model asked for, or nothing.
    if not args.model.is_file():
        print(f"nlu_report: no model file at {args.model}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # run_evaluation logs every example at debug level
    logging.getLogger().setLevel(logging.WARNING)

    data = args.data if args.data.is_absolute() else ROOT / args.data
    result = asyncio.run(evaluate(args.model, data, args.out))
    bench = ROOT / "bench" / "results"
    bench.mkdir(parents=True, exist_ok=True)
    (bench / "nlu.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    (bench / "nlu.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    if args.show_misses:
        for miss in result["misses"]:
            print(
                f"  MISS [{miss['tag']}] {miss['text']}  gold={miss['gold']}  "
                f"got={miss['predicted']}"
            )
    else:
        print(f"{len(result['misses'])} frames missed (--show-misses lists them).")

    failures = gate_failures(result)
    if failures:
        print("NLU gate FAILED: " + "; ".join(failures))
        return 1 if args.gate else 0
    print("NLU gate passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
