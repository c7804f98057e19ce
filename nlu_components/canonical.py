"""Last step of the NLU pipeline: entity values leave in the contract's canonical form.

EntitySynonymMapper (fed by synonyms generated from the catalog) already maps 测试环境/QA/线上
to environment keys and Chinese service aliases to service names. What it cannot do is
shape-based: a task id written ``#45`` or ``45号`` must leave as ``45``; stray whitespace and
punctuation around a span are dropped; and DIET plus regex features can yield the same entity
twice, which would make a form see two values. In every request but an unlock (`UNNEGATABLE`),
entities said inside a negation ("不用发网关了") are dropped here too (chatops/negation.py), so
no slot can take them.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from chatops.negation import drop_negated

_DIGITS = re.compile(r"\d+")
# In a lock request the negation is often the request itself: "别让人往生产发了" names the
# environment to lock, so only a cue after the value counts ("生产先别锁，锁预发"); in an unlock
# request "测试环境不用锁了" names the one to unlock, so none does. Every other intent drops what
# it was told not to touch ("不是网关，是前端的发布怎么样了", "取消订单的，支付的别动").
UNNEGATABLE = frozenset({"unlock_environment"})
TRAILING_ONLY = frozenset({"lock_environment"})
_EDGE_NOISE = " \t\r\n,，。.!！?？:：;；'\"“”‘’()（）[]【】<>《》"


def canonical_entities(entities: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Normalise values by entity type and drop duplicates (first extractor wins)."""
    out: List[Dict[str, Any]] = []
    seen = set()
    for entity in entities:
        value = entity.get("value")
        if isinstance(value, str):
            value = value.strip(_EDGE_NOISE)
            if entity.get("entity") in ("task_id", "request_id"):
                digits = _DIGITS.search(value)
                value = digits.group() if digits else None
        if not value:
            continue
        key = (entity.get("entity"), value)
        if key in seen:
            continue
        seen.add(key)
        out.append({**entity, "value": value})
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class EntityCanonicalizer(GraphComponent):
    """Shape-based canonical values for extracted entities (see module docstring)."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "EntityCanonicalizer":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            entities = message.get(ENTITIES, [])
            if entities:
                intent = (message.get(INTENT) or {}).get("name")
                kept = entities
                if intent not in UNNEGATABLE:
                    text = str(message.get(TEXT) or "")
                    kept = drop_negated(text, entities, forward=intent not in TRAILING_ONLY)
                message.set(ENTITIES, canonical_entities(kept), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
