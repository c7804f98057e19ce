"""The NLU variants comparison as markdown (bench/results/nlu_variants.md) and its conclusion."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


def pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def secs(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.1f}"


def markdown(report: Dict[str, Any], conclusion: str) -> str:
    lines = [
        f"NLU pipeline variants, held-out set `tests/nlu` ({report.get('n', '?')} utterances, "
        f"never trained on), trained on `data/` (fingerprint `{report['data_fingerprint']}`). "
        f"{report['machine']}; one training at a time, cold process per evaluation. "
        "Written by `bench/nlu_variants.py`.",
        "",
        "| variant | change | train s | model load s | rasa intent acc | rasa entity F1 "
        "(token, extractor) | entity F1 (values) | whole frame | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in report["variants"]:
        if "error" in v and "rasa_intent_accuracy" not in v:
            lines.append(
                f"| {v['name']} | {v['change']} | {secs(v.get('train_s'))} | – | – | – "
                f"| – | – | FAILED: `{v['error'].replace('|', '/')}` |"
            )
            continue
        lines.append(
            f"| {v['name']} | {v['change']} | {secs(v['train_s'])} | {secs(v['load_s'])} "
            f"| {pct(v['rasa_intent_accuracy'])} | {pct(v['rasa_entity_f1'])} "
            f"({v['rasa_entity_extractor']}) | {pct(v['value_entity_f1'])} "
            f"| {pct(v['whole_frame_accuracy'])} | {v['fallbacks']} |"
        )
    lines += [
        "",
        "Train s: wall time of `rasa train nlu` incl. CLI start-up, empty training cache. "
        "Model load s: `Agent.load` alone in a fresh process (rasa already imported). "
        "Fallbacks: held-out utterances answered `nlu_fallback` (FallbackClassifier, "
        "threshold 0.4).",
        "",
        conclusion,
        "",
    ]
    return "\n".join(lines)


def conclude(variants: List[Dict[str, Any]]) -> str:
    """One paragraph from the numbers; the lead may rewrite the prose, not the numbers."""
    ok = {v["name"]: v for v in variants if "rasa_intent_accuracy" in v}
    a = ok.get("shipped")
    if not a:
        return "**Conclusion:** the shipped variant did not produce results; nothing to compare."
    parts = []
    for name, v in ok.items():
        if name == "shipped":
            continue
        parts.append(
            f"`{name}` {pct(v['rasa_intent_accuracy'])} intent / "
            f"{pct(v['value_entity_f1'])} value F1 / {pct(v['whole_frame_accuracy'])} whole frame, "
            f"train {secs(v['train_s'])} s, load {secs(v['load_s'])} s"
        )
    failed = [v["name"] for v in variants if v["name"] not in ok]
    text = (
        f"**Conclusion:** `shipped` (config.yml) reaches {pct(a['rasa_intent_accuracy'])} "
        f"intent accuracy, {pct(a['value_entity_f1'])} value-level entity F1 and "
        f"{pct(a['whole_frame_accuracy'])} whole-frame accuracy, training in "
        f"{secs(a['train_s'])} s and loading in {secs(a['load_s'])} s; against it: "
        + "; ".join(parts)
        + "."
    )
    if failed:
        text += f" Failed: {', '.join(failed)}."
    return text
