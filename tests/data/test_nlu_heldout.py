"""The held-out NLU set shares no sentence with the training data.

Sentences are compared after normalising what does not change their meaning for the model:
entity markup, whitespace, letter case and punctuation (ASCII and full-width). A held-out
sentence that the model was trained on would make the published accuracy a memory test.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "data"
HELD_OUT = ROOT / "tests" / "nlu"

# [text](entity), [text]{"entity": ...}, [text]{...}(...) -> text
_MARKUP = re.compile(r"\[([^\]]*)\](?:\{[^}]*\}|\([^)]*\))")


def normalise(sentence: str) -> str:
    text = _MARKUP.sub(r"\1", sentence)
    kept = (
        ch
        for ch in unicodedata.normalize("NFKC", text)
        if not ch.isspace() and not unicodedata.category(ch).startswith("P")
    )
    return "".join(kept).lower()


def examples(folder: Path) -> Iterator[Tuple[Path, str, str]]:
    """(file, intent, sentence) for every intent example under ``folder``."""
    for path in sorted(folder.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            if "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    yield path, str(block["intent"]), line[2:].strip()


def test_normalise_ignores_markup_space_case_and_punctuation():
    annotated = '把[订单服务]{"entity": "service", "value": "order-service"}发[Test](environment)！'
    assert normalise(annotated) == normalise("把订单服务 发 test")
    assert normalise("取消，任务45。") == normalise("取消任务45")
    assert normalise("发到测试") != normalise("发到生产")


def test_held_out_set_is_not_empty():
    assert len(list(examples(HELD_OUT))) >= 200


def test_no_held_out_sentence_is_in_the_training_data():
    trained: Dict[str, Path] = {normalise(s): p for p, _, s in examples(TRAINING)}
    seen: List[str] = [
        f"{path.relative_to(ROOT)}: {sentence}"
        for path, _, sentence in examples(HELD_OUT)
        if normalise(sentence) in trained
    ]
    assert not seen, f"{len(seen)} held-out sentences are also training data:\n" + "\n".join(seen)


def test_no_training_example_nearly_repeats_a_held_out_sentence():
    """Exact copies are not the only leak: a training example that differs from a held-out
    sentence by a particle or a punctuation mark measures memory, not understanding."""
    from scripts.decontaminate_nlu import contaminated

    hits = contaminated(90.0, [ROOT / "tests" / "nlu"])
    assert not hits, "\n".join(f"{p.name}: {t}  ~  {h}" for p, _, t, h in hits)
