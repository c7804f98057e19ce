"""Keep held-out sentences out of the training data: report (or remove) training examples that
equal or nearly equal a held-out sentence (``tests/nlu/**`` and any extra folders given).

Normalisation drops entity markup, punctuation, spaces and case; "nearly" is a rapidfuzz ratio
of at least ``--threshold`` (default 90). ``--fix`` deletes the training lines; without it the
script exits 1 when it finds any (tests/data/test_nlu_heldout.py runs it).

Usage: python scripts/decontaminate_nlu.py [--fix] [--threshold 90] [--also DIR ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
_EXAMPLE = re.compile(r"^\s*- (?!intent:|synonym:|lookup:|regex:)(.*)$")


def normalise(text: str) -> str:
    text = re.sub(r"\]\{[^}]*\}|\]\([^)]*\)", "]", text).replace("[", "").replace("]", "")
    return re.sub(r"[\s，,。.!！?？:：;；~、'\"“”]", "", text.lower())


def examples(path: Path) -> Iterator[Tuple[int, str]]:
    in_examples = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip().startswith("examples:"):
            in_examples = True
            continue
        if in_examples and (match := _EXAMPLE.match(line)):
            yield number, match.group(1)
        elif line.strip().startswith("- intent:"):
            in_examples = False


def held_out(folders: List[Path]) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.yml")):
            for _, text in examples(path):
                if len(normalise(text)) >= 2:
                    found[normalise(text)] = f"{path.name}: {text}"
    return found


def contaminated(threshold: float, folders: List[Path]) -> List[Tuple[Path, int, str, str]]:
    held = held_out(folders)
    keys = list(held)
    hits = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        if path.name.endswith(".generated.yml"):
            continue
        for number, text in examples(path):
            key = normalise(text)
            if len(key) < 2:
                continue
            best = process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=threshold)
            if best is not None:
                hits.append((path, number, text, held[best[0]]))
    return hits


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fix", action="store_true")
    parser.add_argument("--threshold", type=float, default=90.0)
    parser.add_argument("--also", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    hits = contaminated(args.threshold, [ROOT / "tests" / "nlu", *args.also])
    for path, _, text, held in hits:
        print(f"{path.relative_to(ROOT)}: {text}  ~  {held}")
    if args.fix:
        by_file: Dict[Path, set] = {}
        for path, number, _, _ in hits:
            by_file.setdefault(path, set()).add(number)
        for path, numbers in by_file.items():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            path.write_text(
                "".join(line for i, line in enumerate(lines) if i not in numbers), encoding="utf-8"
            )
        print(f"removed {len(hits)} training examples")
        return 0
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
