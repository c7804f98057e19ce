"""The prepared validator for action server responses behaves exactly like Rasa's own."""

from __future__ import annotations

import inspect

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

import nlu_components  # noqa: F401  (installs the prepared validator)
from nlu_components.action_results import _ORIGINAL, STOCK_SWITCH, install, validate_action_result

VALID = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "service", "value": ["order-service"]}]},
    {"responses": [{"text": "好的"}]},
    {},
]
INVALID = [
    {"events": [{"event": "slot", "name": 3}]},
    {"events": "not a list"},
    {"responses": ["not an object"]},
    {"events": [{"event": "no-such-event"}]},
]


def test_it_is_installed():
    assert RemoteAction._validate_action_result is validate_action_result


def test_the_benchmark_switch_keeps_rasas_own_validation(monkeypatch):
    """CHATOPS_STOCK_ACTION_VALIDATION=1 (bench/latency.py's "before") installs nothing."""
    monkeypatch.setattr(RemoteAction, "_validate_action_result", _ORIGINAL)
    monkeypatch.setenv(STOCK_SWITCH, "1")
    install()
    assert RemoteAction._validate_action_result is _ORIGINAL
    monkeypatch.setenv(STOCK_SWITCH, "0")
    install()
    assert RemoteAction._validate_action_result is validate_action_result


def test_rasa_still_has_the_function_it_replaces_unchanged():
    """A Rasa upgrade that moves or changes this function must be looked at again."""
    source = inspect.getsource(_ORIGINAL)
    assert "validate(result, self.action_response_format_spec())" in source
    assert "Failed to validate Action server response from API" in source


@pytest.mark.parametrize("result", VALID)
def test_valid_results_pass_both(result):
    action = RemoteAction("action_x", None)
    assert _ORIGINAL(action, result) is True
    assert validate_action_result(action, result) is True


@pytest.mark.parametrize("result", INVALID)
def test_invalid_results_raise_the_same_error(result):
    action = RemoteAction("action_x", None)
    with pytest.raises(jsonschema.ValidationError) as theirs:
        _ORIGINAL(action, result)
    with pytest.raises(jsonschema.ValidationError) as ours:
        validate_action_result(action, result)
    assert ours.value.message == theirs.value.message
    assert list(ours.value.path) == list(theirs.value.path)
