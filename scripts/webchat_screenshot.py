"""`make screenshot`: the README's picture of the web chat, made by a command, not by hand.

Starts the whole stack on free ports, plays the production scenario in the page (张三 deploys to
test, asks for production and confirms, 李四 approves) and saves docs/webchat.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import webchat  # noqa: E402
from devstack.stack import Ports, Stack, newest_model  # noqa: E402

OUT = ROOT / "docs" / "webchat.png"


def main() -> int:
    model = newest_model()
    if model is None:
        sys.exit("no model in models/: run `make model` first")
    stack = Stack(model=model, ports=Ports.free(), waiting_seconds=0.5, running_seconds=3)
    stack.start()
    try:
        with webchat.chromium() as browser:
            page = webchat.open_chat(browser, stack.dingtalk_url, f"cid-shot-{time.time_ns()}")
            webchat.production_scenario(page)
            webchat.wait_for_bot(page, "发布成功：gateway → prod", timeout=40)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT), full_page=False)
    finally:
        stack.stop()
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
