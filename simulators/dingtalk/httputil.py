"""JSON in and out: control bodies, and DingTalk's OpenAPI error body (docs/dingtalk.md §2.3)."""

from __future__ import annotations

import json
import secrets
from functools import partial
from typing import Any, Dict, Optional, Tuple

from sanic import Request
from sanic.response import HTTPResponse
from sanic.response import json as _sanic_json

from simulators.dingtalk.state import SimConfig

BAD_CLIENT_MSG = "无效的clientId或者clientSecret"
NOT_AN_OBJECT = "请求体不是 JSON 对象"

_dumps = partial(json.dumps, ensure_ascii=False)


def json_response(body: Any, status: int = 200) -> HTTPResponse:
    return _sanic_json(body, status=status, dumps=_dumps)


def read_json(request: Request) -> Tuple[Optional[Any], Optional[HTTPResponse]]:
    """The body's JSON value (an empty body reads as ``{}``), or the 400 answer."""
    try:
        return json.loads(request.body or b"{}"), None
    except ValueError:
        return None, json_response({"error": "body is not JSON"}, 400)


def read_object(request: Request) -> Tuple[Dict[str, Any], Optional[HTTPResponse]]:
    """A control request's JSON object, or the 400 answer for anything else."""
    spec, error = read_json(request)
    if error is None and not isinstance(spec, dict):
        error = json_response({"error": "body must be a JSON object"}, 400)
    return (spec if isinstance(spec, dict) else {}), error


def loose_object(request: Request) -> Dict[str, Any]:
    """The body's JSON object; anything else (nothing, not JSON, not an object) reads as {}."""
    spec, _ = read_json(request)
    return spec if isinstance(spec, dict) else {}


def openapi_error(status: int, code: str, message: str, **extra: Any) -> HTTPResponse:
    body = {"code": code, "message": message, "requestid": secrets.token_hex(8).upper(), **extra}
    return json_response(body, status)


def refuse_credentials(
    request: Request, config: SimConfig, id_key: str, secret_key: str, status: int
) -> Optional[HTTPResponse]:
    """The OpenAPI answer to a body without this app's key and secret, else None."""
    data, error = read_json(request)
    if error or not isinstance(data, dict):
        return openapi_error(400, "MissingParameter", NOT_AN_OBJECT)
    if data.get(id_key) != config.app_key or data.get(secret_key) != config.app_secret:
        return openapi_error(status, "invalidClientIdOrSecret", BAD_CLIENT_MSG)
    return None
