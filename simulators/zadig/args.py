"""Request arguments as aslan binds them: Go structs decoded from JSON, loose values read safely."""

from __future__ import annotations

import json
from typing import Any, Dict, List

from simulators.zadig.errors import cannot_unmarshal, parse_json_body

_TRIGGER_ARGS = "OpenAPICreateCustomWorkflowTaskArgs"


def parse_trigger_args(raw: bytes) -> Dict[str, Any]:
    """``workflow.OpenAPICreateCustomWorkflowTaskArgs`` (docs/zadig-openapi.md §3.1)."""
    body = parse_json_body(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise cannot_unmarshal(body, f"workflow.{_TRIGGER_ARGS}")
    for name in ("project_key", "workflow_key"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise cannot_unmarshal(value, "string", f"{_TRIGGER_ARGS}.{name}")
    inputs = body.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, list):
            raise cannot_unmarshal(inputs, "[]*workflow.CustomJobInput", f"{_TRIGGER_ARGS}.inputs")
        for item in inputs:
            if item is not None and not isinstance(item, dict):
                raise cannot_unmarshal(item, "workflow.CustomJobInput", f"{_TRIGGER_ARGS}.inputs")
            for name in ("job_name", "job_type"):
                value = (item or {}).get(name)
                if value is not None and not isinstance(value, str):
                    raise cannot_unmarshal(value, "string", f"CustomJobInput.inputs.{name}")
    return body


def loose_json(raw: bytes) -> Any:
    """A body's JSON value, or None for anything that is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def as_list(value: Any) -> List[Dict[str, Any]]:
    """The objects in a JSON array; anything else reads as empty."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""
