"""`make demo` / `make chat`: the whole bot on the embedded defaults, and a way to talk to it.

Starts the Zadig simulator, the DingTalk simulator, the action server and the Rasa server on
their default ports (7070, 7080, 5055, 5005). With ``--web`` (``make demo``) it prints the URL of
the DingTalk-style group chat page the DingTalk simulator serves and runs until Ctrl-C. Without
it (``make chat``) it reads what you type and sends it as a signed DingTalk group message from
张三; everything the bot posts into the group, including the result it posts by itself when a
task ends, is printed as it arrives.

Commands at the prompt: /user <id> <name> (speak as someone else), /private (1:1 chat),
/group, /fail [build|deploy] (the next task fails), /slow (tasks take a minute), /quit.
Non-interactive: python -m scripts.demo --say "把订单服务发到测试环境" --wait 15
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from devstack.stack import ChatClient, Ports, Stack, newest_model  # noqa: E402

DTMD = re.compile(r"\[([^\]]+)\]\(dtmd://dingtalkclient/sendMessage\?content=[^)]*\)")


def render(message: dict) -> str:
    text = str(message.get("text") or "")
    text = DTMD.sub(lambda m: f"[{m.group(1)}]", text)  # a tappable choice in DingTalk
    route = message.get("route")
    via = "" if route == "session_webhook" else f"  (via {route})"
    return "\n".join("  🤖 " + line for line in text.splitlines()) + via


class Printer(threading.Thread):
    """Prints the bot's messages as they arrive, follow-ups included."""

    def __init__(self, chat: ChatClient) -> None:
        super().__init__(daemon=True)
        self.chat = chat
        self.stopped = threading.Event()

    def drain(self) -> None:
        try:
            for message in self.chat.messages():
                print(render(message), flush=True)
        except httpx.HTTPError:
            pass

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.drain()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="部署助手 demo")
    parser.add_argument(
        "--say",
        action="append",
        default=[],
        help="send this message instead of prompting (repeatable)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=12.0,
        help="with --say: seconds to wait for replies after each message",
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--web", action="store_true", help="serve the web chat page, no prompt")
    args = parser.parse_args(argv)

    model = args.model or newest_model()
    if model is None:
        sys.exit(
            "no model in models/: run `make demo` (it trains one) or scripts/bootstrap.sh model"
        )
    print(
        f"starting the demo with {model.name}: Zadig simulator :7070, DingTalk simulator :7080,"
        " action server :5055, Rasa :5005 (loading the model takes about a minute) ...",
        flush=True,
    )
    stack = Stack(
        model=model,
        ports=Ports(),
        state_dir=ROOT / "var" / "demo",
        waiting_seconds=1,
        running_seconds=8,
    )
    try:
        stack.start()
    except RuntimeError as exc:
        print(f"could not start the demo: {exc}", file=sys.stderr)
        return 1
    if args.web:
        return serve_the_page(stack)
    chat = ChatClient(stack)
    chat.messages()  # skip anything left from an earlier demo run
    printer = Printer(chat)
    printer.start()
    zadig = httpx.Client(base_url=stack.zadig_url, timeout=10)
    try:
        if args.say:
            for text in args.say:
                print(f"张三> {text}", flush=True)
                chat.say(text)
                time.sleep(args.wait)
            printer.drain()
            return 0
        print(
            "\n已连接。在“测试群”里 @部署助手 说话，例如：把订单服务发到测试环境 "
            "（/quit 退出，/fail 让下一次发布失败，/user u2 李四 换人说话）\n",
            flush=True,
        )
        while True:
            try:
                line = input(f"{chat.nick}> ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/user"):
                parts = line.split()
                chat.user = parts[1] if len(parts) > 1 else "user456"
                chat.nick = parts[2] if len(parts) > 2 else "李四"
                continue
            if line == "/private":
                chat.group, chat.conversation = False, f"cid-private-{chat.user}"
                continue
            if line == "/group":
                chat.group, chat.conversation = True, "cid-demo-group"
                continue
            if line.startswith("/fail"):
                stage = line.split()[1] if len(line.split()) > 1 else "deploy"
                zadig.post(
                    "/_sim/outcome",
                    json={"status": "failed", "stage": stage, "error": "demo: injected failure"},
                )
                print(f"  (下一次发布会在 {stage} 阶段失败)")
                continue
            if line == "/slow":
                zadig.post("/_sim/config", json={"running_seconds": 60})
                print("  (之后的任务每个运行 60 秒)")
                continue
            result = chat.say(line)
            if result.get("status") != 200:
                print(f"  (bot answered HTTP {result.get('status')}: {result.get('body')})")
    finally:
        printer.stopped.set()
        printer.drain()
        zadig.close()
        chat.close()
        stack.stop()
    return 0


def serve_the_page(stack: Stack) -> int:
    print(
        f"\n部署助手 is running. Open {stack.dingtalk_url}/chat in a browser.\n"
        "Type as 张三 (a developer) in the group: 把订单服务发到测试环境, 把网关发到生产环境,\n"
        "确认; switch to 李四 (a release manager) at the top to approve (批准 N); the Zadig\n"
        "panel on the right makes the next task fail, hang or need a Zadig approval.\n"
        "Ctrl-C stops it.\n",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
