"""Validate action server responses with one prepared JSON-schema validator.

Rasa 3.6's ``RemoteAction._validate_action_result`` (rasa/core/actions/action.py) calls
``jsonschema.validate(result, spec)`` for every response of the action server. ``validate``
first checks the *schema* against its metaschema (Draft 2020-12, ``$dynamicRef``): 19 ms per call
on these machines: 66 % of the Rasa server's samples in the issue's profile, 37.6 % of its busy
event loop in ours (50 users on PostgreSQL and Redis; 2.8 % after: bench/results/profile.md).
The schema never changes, so it is checked once here and the validator reused: the same
outcome (the same ``ValidationError``, with Rasa's message appended), about 0.8 ms a call.

Applied when this package is imported, which Rasa does whenever it loads the model (`rasa run`,
`rasa shell`, `rasa test`, the tests, the demo). Rasa 3.6.21 is the last release of its line;
tests/nlu_components/test_action_results.py fails if an upgrade moves or changes the function.

Benchmark switch, never for production: ``CHATOPS_STOCK_ACTION_VALIDATION=1`` in the Rasa
server's environment leaves Rasa's own per-call validation in place, so bench/latency.py can
measure before and after (bench/results/latency.md, profile.md).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Text

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_ORIGINAL = RemoteAction._validate_action_result
_validator: Any = None
# The benchmark switch above: "1" keeps Rasa's own validation.
STOCK_SWITCH = "CHATOPS_STOCK_ACTION_VALIDATION"


def _prepared() -> Any:
    global _validator
    if _validator is None:
        spec = RemoteAction.action_response_format_spec()
        cls = validator_for(spec)
        cls.check_schema(spec)  # what jsonschema.validate does on every call, done once
        _validator = cls(spec)
    return _validator


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with a prepared validator (same contract)."""
    error = best_match(_prepared().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Idempotent; does nothing when the benchmark switch asks for Rasa's own validation."""
    if os.environ.get(STOCK_SWITCH) == "1":
        return
    RemoteAction._validate_action_result = validate_action_result


__all__ = ["install", "validate_action_result", "ValidationError"]
