"""Refresh catalog.yml's environments and services from a live Zadig, keeping hand-made aliases.

Asks Zadig's discovery endpoints (docs/zadig-openapi.md §4, §3.7) for the catalog project's
environments, custom workflows (and their build/deploy job names), services and default image
registry, then merges them into the catalog:

- every alias, branch and production flag a person wrote is kept;
- a new environment or service is added with no aliases, and the report says to add them;
- an environment or service Zadig no longer lists is kept, with a warning (never deleted here);
- each environment is mapped to the custom workflow whose deploy job deploys to it, else keeps
  its current workflow, else gets ``<project>-<env>``.

Usage: python -m scripts.refresh_catalog [--catalog PATH] [--dry-run]
Zadig is the one in ZADIG_BASE_URL / ZADIG_TOKEN (see .env.example). On any Zadig failure the
command exits 1 and the catalog file is left untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

import httpx

from chatops.catalog import CatalogError, dump_catalog, load_catalog, parse_catalog
from chatops.catalog.refresh import Discovered, discover, merge
from chatops.settings import Settings, SettingsError, get_settings
from chatops.zadig.client import RETRY_DELAY_SECONDS, ZadigClient
from chatops.zadig.errors import ZadigAuthError, ZadigError, ZadigUnavailable

__all__ = ["Discovered", "discover", "main", "merge", "refresh"]


# -- the command ----------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _explain(exc: ZadigError, settings: Settings) -> str:
    where = settings.zadig_base_url
    if isinstance(exc, ZadigAuthError):
        return f"{exc}. Check ZADIG_TOKEN (and that its user can see the project)."
    if isinstance(exc, ZadigUnavailable):
        hint = (
            " (no ZADIG_BASE_URL is set, so this is the demo simulator: start it or set "
            "ZADIG_BASE_URL and ZADIG_TOKEN)"
            if settings.demo
            else ""
        )
        return f"{exc}. Is Zadig at {where} up?{hint}"
    return str(exc)


async def refresh(
    catalog_path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    transport: Optional[httpx.AsyncBaseTransport] = None,
    retry_delay: float = RETRY_DELAY_SECONDS,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> int:
    """Refresh one catalog file; returns the process exit code."""
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        err(f"error: {exc}")
        return 1
    try:
        async with ZadigClient.from_settings(
            settings, transport=transport, retry_delay=retry_delay
        ) as zadig:
            discovered = await discover(zadig, catalog.project_key)
    except ZadigError as exc:
        err(
            f"error: cannot read project '{catalog.project_key}' from Zadig; {catalog_path} "
            f"is unchanged.\n{_explain(exc, settings)}"
        )
        return 1

    if not (discovered.environments or discovered.workflows or discovered.services):
        err(
            f"error: Zadig lists no environments, workflows or services for project "
            f"'{catalog.project_key}'; {catalog_path} is unchanged. Is the project key right, "
            "and can the token's user see the project?"
        )
        return 1
    merged, report = merge(catalog, discovered)
    for line in report:
        out(line)
    if merged == catalog:
        out(f"{catalog_path} is up to date with Zadig; nothing to write.")
        return 0
    text = dump_catalog(merged)
    try:
        parse_catalog(text, str(catalog_path))  # never write a file the bot cannot load
    except CatalogError as exc:
        err(f"error: the refreshed catalog would not load, {catalog_path} is unchanged: {exc}")
        return 1
    if dry_run:
        # Diff the two catalogs in the same layout, so only real changes show.
        before = dump_catalog(catalog).splitlines(keepends=True)
        out(
            "".join(
                difflib.unified_diff(
                    before,
                    text.splitlines(keepends=True),
                    f"{catalog_path} (now)",
                    f"{catalog_path} (refreshed)",
                )
            )
        )
        out("dry run: nothing written.")
        return 0
    if catalog_path.read_text(encoding="utf-8") != dump_catalog(catalog):
        out(
            f"note: {catalog_path} is rewritten in the generated layout; comments other than "
            "the header are not kept."
        )
    _write_atomically(catalog_path, text)
    out(
        f"wrote {catalog_path}. Next: python scripts/generate_nlu.py (make generate), "
        "then make train."
    )
    return 0


def main(
    argv: Optional[Sequence[str]] = None,
    *,
    settings: Optional[Settings] = None,
    transport: Optional[httpx.AsyncBaseTransport] = None,
    retry_delay: float = RETRY_DELAY_SECONDS,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.refresh_catalog", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="catalog file (default: CATALOG_PATH or catalog.yml)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the changes as a diff instead of writing the file",
    )
    args = parser.parse_args(argv)
    if settings is None:
        try:
            settings = get_settings()
        except SettingsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    path = args.catalog or settings.catalog_path
    return asyncio.run(
        refresh(path, settings, dry_run=args.dry_run, transport=transport, retry_delay=retry_delay)
    )


if __name__ == "__main__":
    sys.exit(main())
