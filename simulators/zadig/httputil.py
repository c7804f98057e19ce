"""HTTP in and out as Zadig's gateway and gin do it: compact JSON, bare errors, gin's query."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, Tuple

from sanic.request import Request
from sanic.response import HTTPResponse

from simulators.zadig.errors import ZadigError

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
INT = re.compile(r"^[+-]?[0-9]+$")
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"

Query = Dict[str, str]


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def json_response(body: Any, status: int = 200) -> HTTPResponse:
    return HTTPResponse(dumps(body), status=status, content_type=_JSON)


class _BareResponse(HTTPResponse):
    """A response with no body and no Content-Type (Sanic 21.12 would send "None")."""

    @property
    def processed_headers(self) -> Iterator[Tuple[bytes, bytes]]:
        return (
            (name.encode("ascii"), f"{value}".encode(errors="surrogateescape"))
            for name, value in self.headers.items()
        )


def empty_response(status: int) -> HTTPResponse:
    return _BareResponse(None, status=status)


def text_response(text: str, status: int) -> HTTPResponse:
    return HTTPResponse(text, status=status, content_type=_TEXT)


def error_response(error: ZadigError) -> HTTPResponse:
    if error.body is None:
        return empty_response(error.status)
    return json_response(error.body, error.status)


class BindError(Exception):
    """gin's BindQuery/BindJSON failure: HTTP 400 with an empty body."""


def query_args(request: Request) -> Query:
    """First value of every query parameter, blanks kept (what gin's ``c.Query`` sees)."""
    return {k: v[0] for k, v in request.get_args(keep_blank_values=True).items()}


def int_query(query: Query, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not INT.match(raw):
        raise BindError(name)
    return int(raw)
