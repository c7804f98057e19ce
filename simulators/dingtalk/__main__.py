"""``python -m simulators.dingtalk``: run the DingTalk simulator (see the package docstring)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Optional, Sequence

from simulators.dingtalk.app import create_app

logger = logging.getLogger("simulators.dingtalk")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.dingtalk", description="DingTalk simulator (HTTP + Stream mode)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7080)
    parser.add_argument("--app-key", default="demo-app-key")
    parser.add_argument("--app-secret", default="demo-app-secret")
    parser.add_argument("--robot-code", default=None, help="defaults to the app key")
    parser.add_argument("--bot-url", default="http://127.0.0.1:5005/webhooks/dingtalk/webhook")
    parser.add_argument("--session-ttl-seconds", type=float, default=5400.0)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=20,
        help="messages per 60 s per robot; 0 disables the limit",
    )
    parser.add_argument(
        "--public-url",
        default="",
        help="base URL the bot should use to reach this simulator "
        "(default: the Host of each control request)",
    )
    parser.add_argument(
        "--zadig-url",
        default=os.environ.get("DINGTALK_SIM_ZADIG_URL")
        or os.environ.get("ZADIG_BASE_URL")
        or "http://127.0.0.1:7070",
        help="the Zadig simulator shown in the web chat's side panel (default: "
        "$DINGTALK_SIM_ZADIG_URL, else $ZADIG_BASE_URL, else the demo's http://127.0.0.1:7070; "
        "'' hides the panel)",
    )
    args = parser.parse_args(argv)
    # Sanic logs through its own handlers; only this package's lines are added here.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    app = create_app(
        args.app_key,
        args.app_secret,
        args.bot_url,
        robot_code=args.robot_code,
        session_ttl_seconds=args.session_ttl_seconds,
        rate_limit=args.rate_limit,
        public_url=args.public_url,
        zadig_url=args.zadig_url,
    )
    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1)


if __name__ == "__main__":
    main()
