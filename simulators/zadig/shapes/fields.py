"""Conventions every shape follows: Go's ``omitempty``, times in whole seconds, paging."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, TypeVar

T = TypeVar("T")


def secs(value: Optional[float]) -> int:
    return int(value) if value else 0


def put(target: Dict[str, Any], key: str, value: Any) -> None:
    """Go's ``omitempty``: leave the key out for "" / 0 / None."""
    if value not in ("", 0, None):
        target[key] = value


def page_of(items: Sequence[T], page: int, size: int) -> Sequence[T]:
    """Page `page` (from 1) of `size` items; a size of 0 or less means everything."""
    if size <= 0:
        return items
    start = max(page - 1, 0) * size
    return items[start : start + size]
