"""Service and environment names as people type them: short, misspelt, or as they sound.

The catalog lists each service's name and aliases (``order-service``, ``订单服务``). In a group chat
people also say ``订单`` (a short name), ``订单服物`` or ``测式环境`` (a pinyin IME picked a
homophone), ``wangguan`` (raw pinyin), ``ordr-service`` or ``dve`` (a slip on the keyboard).
`FuzzyNames` matches all of those against the catalog, with a score and an ambiguity rule:

- **short aliases** are derived from the catalog where unambiguous: ``订单服务`` -> ``订单``,
  ``order-service`` -> ``order``; a derived short name that equals any other name, alias or
  derived short name is not used (``测试服务`` would not yield ``测试``, the environment);
- **homophones**: Chinese text whose characters, one by one, share a reading with the name's
  (pypinyin, every reading of a polyphonic character), and "fuzzy pinyin" readings (z/zh, c/ch,
  s/sh, in/ing, en/eng, an/ang) that IMEs offer for each other; one wrong character is tolerated
  in names of four characters or more;
- **raw pinyin** typed without choosing characters (``ceshi`` -> 测试);
- **ASCII typos** by optimal-string-alignment distance (rapidfuzz): an adjacent transposition in
  names of up to four letters (``dve`` -> dev), one edit up to eight, two beyond.

A text resolves only when the best candidate scores at least `ACCEPT` and no candidate for a
*different* value scores within `AMBIGUITY_MARGIN` of it: two close candidates mean "ask", never
"guess". `candidates()` gives the ranked list for a "did you mean" reply.

Plain Python: no Rasa. The NLU component (nlu_components/catalog_matcher.py) and the actions use
the same matcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
)

from pypinyin import Style, pinyin
from rapidfuzz.distance import OSA

if TYPE_CHECKING:  # model.py may import this module: no import cycle at run time
    from chatops.catalog.model import Catalog

Kind = Literal["service", "environment"]
KINDS: Tuple[Kind, ...] = ("service", "environment")

# Scores (0-100) by how a text matched a name. Derived short names score just below a declared
# name so that, were the two ever equal, the declared one wins.
EXACT = 100.0
SHORT = 98.0
SPACING = 96.0  # order service / order_service / orderservice for order-service
HOMOPHONE = 92.0
RAW_PINYIN = 90.0
FUZZY_PINYIN = 86.0
TYPO = 85.0  # one ASCII edit; minus 5 per further edit
ONE_WRONG_CHAR = 80.0
ACCEPT = 80.0
AMBIGUITY_MARGIN = 5.0

# Suffixes that make a name specific without adding meaning, dropped to derive a short name.
SERVICE_SUFFIXES_ZH = ("服务",)
SERVICE_SUFFIXES_ASCII = ("-service", "-svc", "-server", "-srv")
MIN_SHORT_ZH = 2
MIN_SHORT_ASCII = 3
MIN_RAW_PINYIN = 4
# Endings shared by many names: a wrong character there does not make the name ambiguous.
GENERIC_ENDINGS = ("服务", "环境")

_CJK = re.compile(r"[\u3400-\u9fff]")
_ASCII_NAME = re.compile(r"^[a-z0-9][a-z0-9_\- ]*$")
_LETTERS = re.compile(r"^[a-z]+$")
_SPACING = re.compile(r"[\s\-_]+")
_DIGITS = re.compile(r"\d+")
# Fallback edges when no tokens are given: ASCII runs whole, every Chinese character alone.
_PIECES = re.compile(r"[A-Za-z0-9_\-]+|[^\sA-Za-z0-9_\-]")


@dataclass(frozen=True)
class Name:
    """One spelling that names a catalog entry."""

    surface: str
    kind: Kind
    value: str  # the canonical value: environment key or service name
    source: Literal["key", "alias", "module", "short"]


@dataclass(frozen=True)
class Candidate:
    kind: Kind
    value: str
    surface: str  # the catalog spelling that matched
    score: float
    how: str  # exact | short | spacing | homophone | fuzzy-pinyin | raw-pinyin | typo | one-char

    @property
    def exact(self) -> bool:
        return self.how in ("exact", "short", "spacing")


@dataclass(frozen=True)
class Span:
    """A name found in a sentence: characters ``start:end`` of it."""

    start: int
    end: int
    text: str
    candidate: Candidate


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _ascii_key(text: str) -> str:
    return _SPACING.sub("", text.lower())


def _has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@lru_cache(maxsize=8192)
def _readings(char: str) -> FrozenSet[str]:
    """Every toneless reading of one character (polyphonic ones have several)."""
    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors="default")
    return frozenset(r for group in found for r in group)


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def _fuzzy(syllable: str) -> str:
    for long, short in _FUZZY_INITIALS:
        if syllable.startswith(long):
            syllable = short + syllable[len(long) :]
            break
    for long, short in _FUZZY_FINALS:
        if syllable.endswith(long):
            syllable = syllable[: -len(long)] + short
            break
    return syllable


@lru_cache(maxsize=8192)
def _fuzzy_readings(char: str) -> FrozenSet[str]:
    return frozenset(_fuzzy(r) for r in _readings(char))


def _fuzzy_string(letters: str) -> str:
    for long, short in (*_FUZZY_INITIALS, *_FUZZY_FINALS):
        letters = letters.replace(long, short)
    return letters


@lru_cache(maxsize=4096)
def _spelled(text: str) -> str:
    """The pinyin a user would type for ``text`` (most common reading), no tones or spaces."""
    return "".join(r[0] for r in pinyin(text, style=Style.NORMAL, errors="default")).lower()


def derive_short_aliases(catalog: "Catalog") -> Dict[str, str]:
    """Short names for services, ``{short: service name}``, only where unambiguous."""
    taken: Dict[str, str] = {}
    for env in catalog.environments.values():
        for surface in (env.key, *env.aliases):
            taken[_norm(surface)] = f"environment {env.key}"
    for svc in catalog.services.values():
        for surface in (svc.name, svc.module, *svc.aliases):
            taken[_norm(surface)] = f"service {svc.name}"
    proposed: Dict[str, set[str]] = {}
    for svc in catalog.services.values():
        for surface in (svc.name, svc.module, *svc.aliases):
            for short in _shorts(surface):
                proposed.setdefault(_norm(short), set()).add(svc.name)
    return {
        short: next(iter(owners))
        for short, owners in proposed.items()
        if len(owners) == 1 and short not in taken
    }


def _shorts(surface: str) -> Iterable[str]:
    text = surface.strip()
    for suffix in SERVICE_SUFFIXES_ZH:
        stem = text[: -len(suffix)]
        if text.endswith(suffix) and len(stem) >= MIN_SHORT_ZH and _has_cjk(stem):
            yield stem
    lowered = text.lower()
    for suffix in SERVICE_SUFFIXES_ASCII:
        stem = lowered[: -len(suffix)]
        if lowered.endswith(suffix) and len(stem) >= MIN_SHORT_ASCII and stem.isascii():
            yield stem


class FuzzyNames:
    """Every way the catalog's services and environments can be named, and how to match them."""

    def __init__(self, names: Sequence[Name]) -> None:
        self.names: Tuple[Name, ...] = tuple(names)
        self._exact: Dict[str, List[Name]] = {}
        self._spacing: Dict[str, List[Name]] = {}
        self._by_length: Dict[int, List[Name]] = {}
        self._pinyin: Dict[str, List[Name]] = {}
        self._fuzzy_pinyin: Dict[str, List[Name]] = {}
        self._ascii: List[Tuple[str, Name]] = []
        for name in self.names:
            key = _norm(name.surface)
            self._exact.setdefault(key, []).append(name)
            if _has_cjk(key):
                self._by_length.setdefault(len(key), []).append(name)
                if all(_has_cjk(c) for c in key):
                    spelled = _spelled(key)
                    self._pinyin.setdefault(spelled, []).append(name)
                    self._fuzzy_pinyin.setdefault(_fuzzy_string(spelled), []).append(name)
            elif _ASCII_NAME.match(key):
                self._spacing.setdefault(_ascii_key(key), []).append(name)
                self._ascii.append((_ascii_key(key), name))
        self.max_length = max((len(_norm(n.surface)) for n in self.names), default=0)

    @classmethod
    def from_catalog(cls, catalog: "Catalog") -> "FuzzyNames":
        names: List[Name] = []
        for env in catalog.environments.values():
            names.append(Name(env.key, "environment", env.key, "key"))
            names += [Name(a, "environment", env.key, "alias") for a in env.aliases]
        for svc in catalog.services.values():
            names.append(Name(svc.name, "service", svc.name, "key"))
            if svc.module != svc.name:
                names.append(Name(svc.module, "service", svc.name, "module"))
            names += [Name(a, "service", svc.name, "alias") for a in svc.aliases]
        names += [
            Name(short, "service", value, "short")
            for short, value in derive_short_aliases(catalog).items()
        ]
        return cls(names)

    def values(self, kind: Kind) -> FrozenSet[str]:
        return frozenset(n.value for n in self.names if n.kind == kind)

    # -- scoring ------------------------------------------------------------------------------

    def _scored(self, text: str) -> List[Candidate]:
        """Every name ``text`` could be, best score per (kind, value), best first."""
        key = _norm(text)
        if not key:
            return []
        found: List[Candidate] = []
        for name in self._exact.get(key, []):
            how = "short" if name.source == "short" else "exact"
            found.append(_candidate(name, SHORT if how == "short" else EXACT, how))
        if _has_cjk(key):
            found += self._chinese(key)
        elif _ASCII_NAME.match(key):
            found += self._ascii_matches(key)
        best: Dict[Tuple[str, str], Candidate] = {}
        for cand in found:
            slot = (cand.kind, cand.value)
            if slot not in best or cand.score > best[slot].score:
                best[slot] = cand
        return sorted(best.values(), key=lambda c: (-c.score, c.kind, c.value))

    def _chinese(self, key: str) -> List[Candidate]:
        if not all(_has_cjk(c) for c in key):
            return []
        out = []
        for name in self._by_length.get(len(key), []):
            score = _compare_chars(key, _norm(name.surface))
            if score is not None:
                out.append(_candidate(name, *score))
        return out

    def _ascii_matches(self, key: str) -> List[Candidate]:
        out = []
        spaced = _ascii_key(key)
        for name in self._spacing.get(spaced, []):
            if _norm(name.surface) != key:
                out.append(_candidate(name, SPACING, "spacing"))
        if _LETTERS.match(spaced) and len(spaced) >= MIN_RAW_PINYIN:
            for name in self._pinyin.get(spaced, []):
                out.append(_candidate(name, RAW_PINYIN, "raw-pinyin"))
            for name in self._fuzzy_pinyin.get(_fuzzy_string(spaced), []):
                out.append(_candidate(name, FUZZY_PINYIN - 2, "raw-pinyin"))
        for target, name in self._ascii:
            edits = _allowed_edits(target, spaced)
            if edits:
                out.append(_candidate(name, TYPO - 5 * (edits - 1), "typo"))
        return out

    # -- whole texts --------------------------------------------------------------------------

    def candidates(self, text: str, kind: Optional[Kind] = None, limit: int = 3) -> List[Candidate]:
        """Ranked candidates at or above `ACCEPT` for a "did you mean" (ambiguous ones too)."""
        found = [c for c in self._scored(text) if c.score >= ACCEPT]
        if kind is not None:
            found = [c for c in found if c.kind == kind]
        return found[:limit]

    def resolve(self, text: str, kind: Optional[Kind] = None) -> Optional[Candidate]:
        """The one name ``text`` means, or None when nothing is close enough or two are close."""
        found = self.candidates(text, kind, limit=2)
        if not found:
            return None
        if len(found) > 1 and found[0].score - found[1].score < AMBIGUITY_MARGIN:
            return None
        return found[0]

    # -- names inside a sentence --------------------------------------------------------------

    def find(
        self,
        text: str,
        edges: Optional[Sequence[Tuple[int, int]]] = None,
        kind: Optional[Kind] = None,
        *,
        max_tokens: int = 6,
        accept: Optional[Callable[[Span], bool]] = None,
    ) -> List[Span]:
        """Non-overlapping names in ``text`` whose spans start and end on token edges.

        ``edges`` are the (start, end) offsets of the sentence's tokens in order (the NLU
        tokenizer's); without them every Chinese character and every ASCII run is a token.
        ``accept`` may veto a span before it competes for its characters.
        """
        if edges is None:
            edges = [(m.start(), m.end()) for m in _PIECES.finditer(text)]
        limit = self.max_length + 2
        found: List[Span] = []
        for i, (start, _) in enumerate(edges):
            for j in range(i, min(i + max_tokens, len(edges))):
                end = edges[j][1]
                piece = text[start:end]
                if len(_norm(piece)) > limit:
                    break
                cand = self.resolve(piece, kind)
                if cand is None:
                    continue
                span = Span(start, end, piece, cand)
                if accept is None or accept(span):
                    found.append(span)
        found.sort(key=lambda s: (-s.candidate.score, -(s.end - s.start), s.start))
        chosen: List[Span] = []
        for span in found:
            if all(span.end <= c.start or span.start >= c.end for c in chosen):
                chosen.append(span)
        return sorted(chosen, key=lambda s: s.start)


def _candidate(name: Name, score: float, how: str) -> Candidate:
    return Candidate(name.kind, name.value, name.surface, score, how)


def _compare_chars(typed: str, name: str) -> Optional[Tuple[float, str]]:
    """Score Chinese ``typed`` against a Chinese name of the same length, character by character."""
    kinds = []
    for a, b in zip(typed, name):
        if a == b:
            kinds.append("same")
        elif _readings(a) & _readings(b):
            kinds.append("homophone")
        elif _fuzzy_readings(a) & _fuzzy_readings(b):
            kinds.append("fuzzy")
        else:
            kinds.append("wrong")
    if kinds.count("same") == len(name):
        return None  # exact: scored by the exact index
    if "same" not in kinds and len(name) <= 2:
        return None  # two unrelated characters that merely sound alike are another word
    wrong = [i for i, k in enumerate(kinds) if k == "wrong"]
    if not wrong:
        return (HOMOPHONE, "homophone") if "fuzzy" not in kinds else (FUZZY_PINYIN, "fuzzy-pinyin")
    # One wrong character, and enough of what tells this name apart from the others is left:
    # ``订单服各`` (in the generic 服务) is 订单服务, but ``支持服务`` is not 支付服务.
    stem = len(name) - next((len(g) for g in GENERIC_ENDINGS if name.endswith(g)), 0)
    if len(wrong) == 1 and len(name) >= 4:
        in_ending = wrong[0] >= stem
        if (in_ending and stem >= 2) or (not in_ending and stem >= 3):
            return ONE_WRONG_CHAR, "one-char"
    return None


def _allowed_edits(target: str, typed: str) -> int:
    """Edits (1-2) between an ASCII name and a typed word when tolerated, else 0."""
    if typed == target or not typed or not target:
        return 0
    length = len(target)
    if length < 3 or abs(len(typed) - length) > 2:
        return 0
    if _DIGITS.findall(typed) != _DIGITS.findall(target):
        return 0  # staging2 is another environment than staging, not a typo of it
    distance = OSA.distance(typed, target)
    if length <= 4:
        # Short names: only a swapped pair (dve -> dev); any other edit makes another word.
        ok = distance == 1 and len(typed) == length and sorted(typed) == sorted(target)
        return 1 if ok else 0
    allowed = 1 if length <= 8 else 2
    return int(distance) if distance <= allowed else 0
