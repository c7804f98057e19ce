"""``python -m simulators.zadig``: run the Zadig simulator (see the package docstring)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Optional, Sequence

from chatops.catalog import DEFAULT_PATH, CatalogError, load_catalog
from simulators.zadig.app import create_app
from simulators.zadig.versions import DEFAULT_VERSION, parse_version
from simulators.zadig.world import WorldConfig

logger = logging.getLogger("simulators.zadig")

DEMO_TOKEN = "demo-zadig-token"


def _env(name: str) -> Optional[str]:
    """``ZADIG_SIM_<name>``, None when unset or empty."""
    value = os.environ.get(f"ZADIG_SIM_{name}")
    return value if value not in (None, "") else None


def _env_or(name: str, default: str) -> str:
    return _env(name) or default


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.zadig",
        description="Zadig OpenAPI simulator (custom workflows) for tests and the demo. "
        "Every option can also be set as ZADIG_SIM_<OPTION>.",
    )
    parser.add_argument("--host", default=_env_or("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env_or("PORT", "7070")))
    parser.add_argument(
        "--token",
        default=_env_or("TOKEN", DEMO_TOKEN),
        help="the API token clients must send (default: the demo token)",
    )
    parser.add_argument(
        "--catalog",
        default=_env_or("CATALOG", str(DEFAULT_PATH)),
        help="catalog.yml that seeds the project, workflows, envs, services",
    )
    parser.add_argument(
        "--waiting-seconds", type=float, default=float(_env_or("WAITING_SECONDS", "1"))
    )
    parser.add_argument(
        "--running-seconds", type=float, default=float(_env_or("RUNNING_SECONDS", "6"))
    )
    parser.add_argument(
        "--webhook-url",
        default=_env_or("WEBHOOK_URL", ""),
        help="where finished tasks are announced (workflow webhook notification)",
    )
    parser.add_argument(
        "--webhook-token",
        default=_env_or("WEBHOOK_TOKEN", ""),
        help="sent as X-Zadig-Token with every webhook",
    )
    parser.add_argument(
        "--zadig-version",
        default=_env_or("VERSION", DEFAULT_VERSION),
        help="the Zadig server version to behave as, e.g. 4.1.0 (env ZADIG_SIM_VERSION; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--web-url",
        default=_env("WEB_URL"),
        help="Zadig's public address for detail_url/X-Zadig-Instance (default: http://HOST:PORT)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        raise SystemExit(str(exc)) from None
    if args.waiting_seconds < 0 or args.running_seconds < 0:
        raise SystemExit("--waiting-seconds and --running-seconds must not be negative")
    try:
        parse_version(args.zadig_version)
    except ValueError as exc:
        raise SystemExit(f"--zadig-version: {exc}") from None
    config = WorldConfig(
        catalog=catalog,
        token=args.token,
        waiting_seconds=args.waiting_seconds,
        running_seconds=args.running_seconds,
        webhook_url=args.webhook_url,
        webhook_token=args.webhook_token,
        web_url=(args.web_url or f"http://{args.host}:{args.port}").rstrip("/"),
        version=args.zadig_version.strip().lstrip("v"),
    )
    app = create_app(config)
    logger.info(
        "Zadig %s simulator for project %s on http://%s:%s (workflows: %s)",
        config.version,
        catalog.project_key,
        args.host,
        args.port,
        ", ".join(sorted(app.ctx.world.workflows)),
    )
    app.run(host=args.host, port=args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
