"""What aslan answers instead of success (docs/zadig-openapi.md §1.3).

`ZadigError` carries an HTTP status and a JSON body. The envelopes: ``*errors.HTTPError`` with a
numeric ``code`` (6xxx/7xxx travel as HTTP 400), a plain Go error turned into HTTP 500, and the
gateway's bare 403. Request bodies are decoded as Go's ``json.Unmarshal`` would, with its error
texts, so a client sees the same ``description`` as from a real server.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

NO_DOCUMENTS = "mongo: no documents in result"


class ZadigError(Exception):
    """What Zadig answers instead of success: an HTTP status and a JSON body (None = empty)."""

    def __init__(self, status: int, body: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def http_error(code: int, message: str, description: str) -> ZadigError:
    """aslan's ``*errors.HTTPError`` envelope; codes 6xxx/7xxx travel as HTTP 400."""
    status = 400 if 6000 <= code < 8000 else code
    return ZadigError(
        status,
        {
            "type": "error",
            "message": message,
            "code": code,
            "description": description,
            "extra": {},
        },
    )


def bad_request(description: str) -> ZadigError:
    return http_error(400, "Bad Request", description)


def internal_error(description: str) -> ZadigError:
    """A plain Go error turned into a response: HTTP 500, no ``type``/``extra``."""
    return ZadigError(500, {"message": "Internal Error: ", "code": 500, "description": description})


def create_task_error(description: str) -> ZadigError:
    return http_error(6160, "创建工作流任务失败", description)


def cancel_task_error(description: str) -> ZadigError:
    return http_error(6163, "取消工作流任务失败", description)


def approve_error(description: str) -> ZadigError:
    return http_error(6169, "批准工作流任务失败", description)


def image_update_error(description: str) -> ZadigError:
    return http_error(6082, "更新服务镜像失败", description)


def forbidden() -> ZadigError:
    return ZadigError(403)


# -- Go's json.Unmarshal ---------------------------------------------------------------------

_JSON_KIND = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}


def parse_json_body(raw: bytes) -> Any:
    """``json.Unmarshal`` of a raw body; raises Bad Request with Go's error text."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise bad_request("unexpected end of JSON input")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise bad_request("unexpected end of JSON input") from None
        char = text[exc.pos]
        if exc.msg == "Extra data":
            raise bad_request(f"invalid character '{char}' after top-level value") from None
        raise bad_request(f"invalid character '{char}' looking for beginning of value") from None


def cannot_unmarshal(value: Any, go_type: str, field: str = "") -> ZadigError:
    """Go's ``*json.UnmarshalTypeError``: `value` does not fit `go_type` (of struct `field`)."""
    return bad_request(unmarshal_text(value, go_type, field))


def unmarshal_text(value: Any, go_type: str, field: str = "") -> str:
    """The text of Go's ``*json.UnmarshalTypeError``; a number that does not fit an integer
    type is quoted (``number 1.5``)."""
    kind = _JSON_KIND.get(type(value), "value")
    if kind == "number" and go_type.startswith("int"):
        kind = f"number {value}"
    target = f"Go struct field {field}" if field else "Go value"
    return f"json: cannot unmarshal {kind} into {target} of type {go_type}"
