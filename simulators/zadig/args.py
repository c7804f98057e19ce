"""Request arguments as aslan binds them: Go structs decoded from JSON, loose values read safely."""

from __future__ import annotations

import json
from typing import Any, Dict, List

from simulators.zadig.errors import (
    ZadigError,
    bad_request,
    cannot_unmarshal,
    internal_error,
    parse_json_body,
    unmarshal_text,
)

_TRIGGER_ARGS = "OpenAPICreateCustomWorkflowTaskArgs"
# Go field types of the structs decoded below, by JSON name.
_APPROVE_FIELDS = {
    "workflow_key": "string",
    "task_id": "int64",
    "stage_name": "string",
    "approve": "bool",
    "comment": "string",
}
_GO_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
}


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


def _decode_struct(raw: bytes, struct: str, package: str, fields: Dict[str, str]) -> Dict[str, Any]:
    """``json.Unmarshal`` of `raw` into Go struct `package.struct` with `fields`; raises the
    Bad Request Go's errors make (``null`` is the zero value)."""
    body = parse_json_body(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise cannot_unmarshal(body, f"{package}.{struct}")
    for name, value in body.items():  # Go reports the first misfit in document order
        go_type = fields.get(name)
        if go_type and value is not None and not _GO_CHECKS[go_type](value):
            raise bad_request(unmarshal_text(value, go_type, f"{struct}.{name}"))
    return body


def parse_approve_args(raw: bytes) -> Dict[str, Any]:
    """``workflow.OpenAPIApproveRequest`` (docs/zadig-task-operations.md §1.4); what does not
    decode is HTTP 500 ``failed to unmarshal request data, error: …``."""
    try:
        return _decode_struct(raw, "OpenAPIApproveRequest", "workflow", _APPROVE_FIELDS)
    except ZadigError as exc:
        text = (exc.body or {}).get("description", "")
        raise internal_error(f"failed to unmarshal request data, error: {text}") from None


def parse_remark_args(raw: bytes) -> Dict[str, Any]:
    """``handler.updateWorkflowV4TaskRemarkReq`` (task-operations §7); errors are 400."""
    return _decode_struct(raw, "updateWorkflowV4TaskRemarkReq", "handler", {"remark": "string"})


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
