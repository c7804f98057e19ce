"""Service and environment entities from the catalog as it is when the model is loaded.

DIET learns names from the catalog at training time (synonyms, lookup tables, the jieba
dictionary). Two things it cannot do: recognise a service added to the catalog after training
(issue 12 point 4: it must work after a restart, with no retrain), and give a canonical value for
a spelling it never saw (``订单服物``, ``wangguan``, ``ordr-service``). This component does both
with `chatops.catalog.fuzzy.FuzzyNames`, built from ``catalog.yml`` (``CATALOG_PATH``, else the
repository's) when the model is loaded, not when it is trained:

1. **correct**: a ``service``/``environment`` entity from an earlier extractor whose value is not
   a catalog key gets the key its text resolves to (``测式环境`` -> test); failing that, the
   other kind's exact name (an environment tagged as a service) or the whole name it is part
   of (``服务`` of 搜索服务). Values that resolve to nothing stay as they are: a service outside
   the catalog is still a service (the actions answer "did you mean").
2. **add**: a token-aligned span that resolves to a catalog name, overlaps no entity and names
   no value already extracted, becomes an entity, unless
   - it starts inside a negation (chatops/negation.py): "别发生产" names what is *not* wanted, in
     any intent;
   - its text is a spelling the model was trained on (annotated in the training data or in a
     lookup table; recorded at training time). Where the model saw ``测试`` a thousand times and
     did not tag it here ("测试同学说..."), that was a decision about context, not ignorance;
   - it is a fuzzy match (not an exact name) of a word in jieba's dictionary: ``前段时间`` is
     an ordinary word, not a typo of 前端.

A name added to the catalog after training is also added to jieba's dictionary at load time
(as scripts/generate_nlu.py does for the training dictionary), so that ``把风控服务`` is cut
``把 / 风控服务`` and not ``把风 / 控 / 服务``: spans can only start and end on token edges. Only
words jieba does not know yet are added, so every sentence the model could already read is
tokenised exactly as in training.

Order in the pipeline: after EntitySynonymMapper (so known spellings are already canonical and
only the rest is looked at) and before EntityCanonicalizer (so this component's entities go
through the same negation drop, edge trimming and de-duplication as DIET's).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from chatops.catalog.fuzzy import KINDS, FuzzyNames, Kind, Span
from chatops.catalog.loader import load_catalog
from chatops.negation import negated_spans

logger = logging.getLogger(__name__)

TRAINED_FILE = "trained_names.json"
# The frequency scripts/generate_nlu.py (ALIAS_FREQ) gives catalog aliases in the training
# dictionary: high enough to win over the ordinary words around them.
JIEBA_FREQ = 200000


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CatalogEntityMatcher(GraphComponent, EntityExtractorMixin):
    """Adds and corrects service/environment entities from the catalog loaded at start-up."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # None: CATALOG_PATH, else the repository's catalog.yml.
            "catalog_path": None,
            # Add entities the earlier extractors missed (False: only correct their values).
            "add_entities": True,
            # Leave spellings the model was trained on to the model (see the module docstring).
            "trust_trained_names": True,
            "max_span_tokens": 6,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        trained_names: Optional[Iterable[Tuple[str, str]]] = None,
        names: Optional[FuzzyNames] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.trained_names: Set[Tuple[str, str]] = set(trained_names or ())
        self._names = names

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CatalogEntityMatcher":
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "CatalogEntityMatcher":
        trained: List[Tuple[str, str]] = []
        try:
            with model_storage.read_from(resource) as folder:
                trained = [tuple(x) for x in json.loads((folder / TRAINED_FILE).read_text("utf-8"))]
        except (ValueError, OSError):
            logger.debug("CatalogEntityMatcher: no trained names in the model")
        component = cls(config, model_storage, resource, trained)
        # Read the catalog now: a broken catalog fails the start, not the first message.
        _ = component.names
        return component

    # -- the catalog, read at load time ----------------------------------------------------------

    @property
    def names(self) -> FuzzyNames:
        if self._names is None:
            path = self._config.get("catalog_path") or os.environ.get("CATALOG_PATH")
            catalog = load_catalog(Path(path) if path else None)
            self._names = FuzzyNames.from_catalog(catalog)
            added = teach_jieba(self._names)
            logger.info(
                "CatalogEntityMatcher: %d names from %s (%d new words for jieba)",
                len(self._names.names),
                catalog.path,
                len(added),
            )
        return self._names

    # -- training: remember which spellings the model has seen -----------------------------------

    def train(self, training_data: TrainingData) -> Resource:
        seen: Set[Tuple[str, str]] = set()
        for example in training_data.entity_examples:
            text = example.get(TEXT) or ""
            for entity in example.get(ENTITIES, []):
                kind = entity.get(ENTITY_ATTRIBUTE_TYPE)
                if kind in KINDS:
                    surface = text[entity[ENTITY_ATTRIBUTE_START] : entity[ENTITY_ATTRIBUTE_END]]
                    seen.add((kind, _norm(surface)))
        for table in training_data.lookup_tables:
            if table.get("name") in KINDS:
                for element in table.get("elements") or []:
                    seen.add((table["name"], _norm(str(element))))
        self.trained_names = seen
        with self._model_storage.write_to(self._resource) as folder:
            (folder / TRAINED_FILE).write_text(
                json.dumps(sorted(seen), ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    # -- inference -----------------------------------------------------------------------------

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            entities = self.match(message)
            if entities is not None:
                message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def match(self, message: Message) -> Optional[List[Dict[str, Any]]]:
        """The message's entities, corrected and completed; None when nothing changed."""
        text = str(message.get(TEXT) or "")
        if not text:
            return None
        names = self.names
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        edges = [(t.start, t.end) for t in tokens] or None
        entities = [dict(e) for e in message.get(ENTITIES, [])]
        changed = False
        for entity in entities:
            changed |= self._correct(entity, text, names, edges)
        if self._config["add_entities"]:
            added = self._additions(text, edges, entities, names)
            if added:
                entities = sorted(entities + added, key=lambda e: e.get(ENTITY_ATTRIBUTE_START, 0))
                changed = True
        return entities if changed else None

    def _correct(
        self,
        entity: Dict[str, Any],
        text: str,
        names: FuzzyNames,
        edges: Optional[List[Tuple[int, int]]],
    ) -> bool:
        kind = entity.get(ENTITY_ATTRIBUTE_TYPE)
        if kind not in KINDS:
            return False
        value = entity.get(ENTITY_ATTRIBUTE_VALUE)
        if isinstance(value, str) and value in names.values(kind):
            return False
        start, end = entity.get(ENTITY_ATTRIBUTE_START), entity.get(ENTITY_ATTRIBUTE_END)
        located = isinstance(start, int) and isinstance(end, int)
        said = text[start:end] if located else None
        for spelling in (said, value):
            if not isinstance(spelling, str) or not spelling.strip():
                continue
            found = names.resolve(spelling, kind)
            if found is not None:
                entity[ENTITY_ATTRIBUTE_VALUE] = found.value
                self.add_processor_name(entity)
                return True
        # The other kind's exact name (an environment tagged as a service): catalog names are
        # unique across kinds (chatops/catalog/loader.py), so this is not a guess.
        other: Kind = "service" if kind == "environment" else "environment"
        for spelling in (said, value):
            if isinstance(spelling, str) and spelling.strip():
                found = names.resolve(spelling, other)
                if found is not None and found.exact:
                    entity[ENTITY_ATTRIBUTE_TYPE] = other
                    entity[ENTITY_ATTRIBUTE_VALUE] = found.value
                    self.add_processor_name(entity)
                    return True
        if not (isinstance(start, int) and isinstance(end, int)):
            return False
        # Part of a name (``服务`` of 搜索服务): the whole name. Not the other way round: a name
        # inside a longer one (订单 in 订单中心) may be part of a service outside the catalog.
        for span in names.find(text, edges, kind, max_tokens=int(self._config["max_span_tokens"])):
            if span.start <= start and end <= span.end:
                entity.update(
                    {
                        ENTITY_ATTRIBUTE_START: span.start,
                        ENTITY_ATTRIBUTE_END: span.end,
                        ENTITY_ATTRIBUTE_VALUE: span.candidate.value,
                    }
                )
                self.add_processor_name(entity)
                return True
        return False

    def _additions(
        self,
        text: str,
        edges: Optional[List[Tuple[int, int]]],
        entities: List[Dict[str, Any]],
        names: FuzzyNames,
    ) -> List[Dict[str, Any]]:
        taken = [
            (e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END])
            for e in entities
            if isinstance(e.get(ENTITY_ATTRIBUTE_START), int)
            and isinstance(e.get(ENTITY_ATTRIBUTE_END), int)
        ]
        values = {(e.get(ENTITY_ATTRIBUTE_TYPE), e.get(ENTITY_ATTRIBUTE_VALUE)) for e in entities}
        negated = negated_spans(text)

        def wanted(span: Span) -> bool:
            if any(span.start < hi and lo < span.end for lo, hi in taken):
                return False
            if any(lo <= span.start < hi for lo, hi in negated):
                return False
            key = (span.candidate.kind, _norm(span.text))
            if self._config["trust_trained_names"] and key in self.trained_names:
                return False
            if not span.candidate.exact and _is_dictionary_word(span.text):
                return False
            return True

        added = []
        for span in names.find(
            text, edges, max_tokens=int(self._config["max_span_tokens"]), accept=wanted
        ):
            kind: Kind = span.candidate.kind
            if (kind, span.candidate.value) in values:
                continue
            values.add((kind, span.candidate.value))
            added.append(
                {
                    ENTITY_ATTRIBUTE_TYPE: kind,
                    ENTITY_ATTRIBUTE_START: span.start,
                    ENTITY_ATTRIBUTE_END: span.end,
                    ENTITY_ATTRIBUTE_VALUE: span.candidate.value,
                    "confidence_entity": round(span.candidate.score / 100, 2),
                    EXTRACTOR: self.__class__.__name__,
                }
            )
        return added


def teach_jieba(names: FuzzyNames) -> List[str]:
    """Add the catalog's Chinese names that jieba does not know to its dictionary."""
    import jieba

    if not jieba.dt.initialized:
        jieba.dt.initialize()
    added = []
    for name in names.names:
        word = name.surface.strip()
        if len(word) < 2 or not all("\u3400" <= c <= "\u9fff" for c in word):
            continue
        if jieba.dt.FREQ.get(word):
            continue  # a word the model was trained with keeps its training-time segmentation
        jieba.add_word(word, JIEBA_FREQ)
        added.append(word)
    return added


def _is_dictionary_word(text: str) -> bool:
    """True for a word in jieba's main dictionary (an ordinary word, not a typo of a name)."""
    import jieba

    if not jieba.dt.initialized:
        jieba.dt.initialize()
    return bool(jieba.dt.FREQ.get(text.strip(), 0))
