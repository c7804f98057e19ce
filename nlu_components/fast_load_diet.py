"""DIETClassifier that loads in seconds: the same weights, without tracing a training graph.

Rasa 3.6 builds a DIET model at load time by fitting one example with keras ``fit``
(``RasaModel.load``), which traces the whole *training* step as a tf.function (gradients,
optimizer slots) only to discard it when the trained weights are loaded. On 2 CPUs that is about
12 of an 18 s load and 450 MB of the Rasa server's memory (bench/results/cold_start.md). Here the
one-example fit runs eagerly, the weights are loaded, the model goes back to graph mode and only
the prediction function is traced. Training is DIET's own; predictions are identical
(tests/nlu_components/test_fast_load_diet.py compares both loads of one trained model).

It overrides ``DIETClassifier._load_model_class`` of Rasa 3.6.21 (the last release of the line);
the test above fails if an upgrade changes that method's signature.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.extractors.extractor import EntityTagSpec
from rasa.shared.nlu.constants import TEXT
from rasa.utils.tensorflow.constants import RUN_EAGERLY
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
        DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    ],
    is_trainable=True,
)
class FastLoadDIETClassifier(DIETClassifier):
    """DIETClassifier with a load that does not trace the training graph (module docstring)."""

    @property
    def name(self) -> Text:
        # Entities keep DIET's extractor name: `rasa test`, reports and callers look for it.
        return "DIETClassifier"

    @classmethod
    def _load_model_class(
        cls,
        tf_model_file: Text,
        model_data_example: RasaModelData,
        label_data: RasaModelData,
        entity_tag_specs: List[EntityTagSpec],
        config: Dict[Text, Any],
        finetune_mode: bool,
    ) -> RasaModel:
        if finetune_mode:
            return super()._load_model_class(
                tf_model_file, model_data_example, label_data, entity_tag_specs, config, True
            )
        eager = {**copy.deepcopy(config), RUN_EAGERLY: True}
        # finetune_mode=True here only skips RasaModel.load's warm-up prediction, which would
        # otherwise run eagerly; the model is switched to graph mode and warmed up below.
        model = super()._load_model_class(
            tf_model_file, model_data_example, label_data, entity_tag_specs, eager, True
        )
        model.run_eagerly = bool(config.get(RUN_EAGERLY, False))
        model.config[RUN_EAGERLY] = config.get(RUN_EAGERLY, False)
        predict_data_example = RasaModelData(
            label_key=model_data_example.label_key,
            data={k: v for k, v in model_data_example.items() if TEXT in k},
        )
        model.run_inference(predict_data_example)  # trace the predict graph now, not on message 1
        return model
