"""Rasa plug-ins loaded with the model: the jieba tokenizer, the entity canonicalizer, and the
prepared validator for action server responses (`action_results`, installed on import)."""

from nlu_components.action_results import install as _prepare_action_result_validation

_prepare_action_result_validation()
