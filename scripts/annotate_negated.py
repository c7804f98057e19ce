"""Annotate catalog names said inside a negation in the training data, so DIET tags every name.

Who decides what: DIET finds names, chatops/negation.py decides which of them are not wanted
(the NLU drops those: nlu_components/canonical.py). Training examples that left a negated name
as plain text ("不是订单服务，是[库存服务](service)") taught DIET the opposite: that a name near a
negation is not a name. Measured on the held-out negation sets, the model then missed the
*wanted* names of such sentences too ("把支付发到预发，订单先不发" -> no entity at all).

This script finds, in every example of data/nlu/ except the lock intents (where the negation is
the request), each catalog name (key, alias, module, derived short name) that is not annotated
and that the negation rules would drop, and annotates it with its entity type. Names outside a
negation are left alone ("测试同学" is the QA people, not an environment).

Usage: python scripts/annotate_negated.py [--check]   (--check: exit 1 if anything is missing)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatops.catalog import load_catalog  # noqa: E402
from chatops.catalog.fuzzy import FuzzyNames  # noqa: E402
from chatops.negation import drop_negated  # noqa: E402

DATA = ROOT / "data" / "nlu"
SKIP_FILES = {"catalog.generated.yml"}
SKIP_INTENTS = {"lock_environment", "unlock_environment"}
_MARKUP = re.compile(r"\[([^\]]*)\](\{[^}]*\}|\([^)]*\))")
_INTENT = re.compile(r"^\s*- intent:\s*(\S+)")
_EXAMPLE = re.compile(r"^(\s*- )(.*)$")
_ASCII = re.compile(r"[A-Za-z0-9]")


def _names() -> List[Tuple[str, str]]:
    """(surface, entity type), longest first."""
    names = FuzzyNames.from_catalog(load_catalog()).names
    pairs = {(n.surface, n.kind) for n in names if len(n.surface) > 1}
    return sorted(pairs, key=lambda p: -len(p[0]))


def _plain(raw: str) -> Tuple[str, List[Tuple[int, int]], List[Tuple[int, int, int]]]:
    """The text without markup, the annotated spans in it, and (plain start, plain end, raw
    start) of each stretch of unmarked text."""
    plain, annotated, stretches = "", [], []
    pos = 0
    for match in _MARKUP.finditer(raw):
        stretches.append((len(plain), len(plain) + match.start() - pos, pos))
        plain += raw[pos : match.start()]
        annotated.append((len(plain), len(plain) + len(match.group(1))))
        plain += match.group(1)
        pos = match.end()
    stretches.append((len(plain), len(plain) + len(raw) - pos, pos))
    plain += raw[pos:]
    return plain, annotated, stretches


def _found(plain: str, taken: List[Tuple[int, int]], names: List[Tuple[str, str]]) -> List[Dict]:
    found: List[Dict] = []
    lower = plain.lower()
    for surface, kind in names:
        key = surface.lower()
        start = lower.find(key)
        while start >= 0:
            end = start + len(key)
            free = all(end <= a or start >= b for a, b in taken)
            ascii_edges = not _ASCII.match(surface[0]) or (
                (start == 0 or not _ASCII.match(plain[start - 1]))
                and (end == len(plain) or not _ASCII.match(plain[end]))
            )
            if free and ascii_edges:
                found.append({"entity": kind, "start": start, "end": end, "value": surface})
                taken = [*taken, (start, end)]
            start = lower.find(key, end)
    return found


def annotate(raw: str, names: List[Tuple[str, str]]) -> str:
    """``raw`` with every negated, unannotated catalog name annotated."""
    plain, annotated, stretches = _plain(raw)
    found = _found(plain, annotated, names)
    if not found:
        return raw
    existing = [{"entity": "x", "start": a, "end": b, "value": ""} for a, b in annotated]
    kept = drop_negated(plain, [*existing, *found])
    negated = [e for e in found if e not in kept]
    for entity in sorted(negated, key=lambda e: -e["start"]):
        for plain_start, plain_end, raw_start in stretches:
            if plain_start <= entity["start"] and entity["end"] <= plain_end:
                at = raw_start + entity["start"] - plain_start
                length = entity["end"] - entity["start"]
                said = raw[at : at + length]
                raw = f"{raw[:at]}[{said}]({entity['entity']}){raw[at + length :]}"
                break
    return raw


def process(path: Path, names: List[Tuple[str, str]]) -> Tuple[str, List[str]]:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    intent, out, changed = "", [], []
    for line in lines:
        head = _INTENT.match(line)
        if head:
            intent = head.group(1)
        example = _EXAMPLE.match(line.rstrip("\n"))
        if example and not head and intent and intent not in SKIP_INTENTS:
            new = annotate(example.group(2), names)
            if new != example.group(2):
                changed.append(f"{path.name} [{intent}] {new}")
                line = example.group(1) + new + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if any name is missing")
    args = parser.parse_args()
    names = _names()
    missing = []
    for path in sorted(DATA.glob("*.yml")):
        if path.name in SKIP_FILES:
            continue
        text, changed = process(path, names)
        missing += changed
        if changed and not args.check:
            path.write_text(text, encoding="utf-8")
    for line in missing:
        print(line)
    if args.check and missing:
        print(f"{len(missing)} training examples leave a negated catalog name unannotated")
        return 1
    print(f"{len(missing)} examples {'to annotate' if args.check else 'annotated'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
