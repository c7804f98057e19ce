"""The web chat page in a real browser (Debian's /usr/bin/chromium driven by Playwright) against
the DingTalk simulator, the Zadig simulator and a stub bot that answers as ours does.

Run: ``scripts/ensure_chromium.sh && .venv/bin/python -m pytest -q -m browser
tests/simulators/test_dingtalk_web_browser.py``; ``WEBCHAT_SCREENSHOT=var/webchat.png`` keeps a
screenshot of the chat after a round trip. When chromium is missing the fixture runs
scripts/ensure_chromium.sh once and skips only if that cannot install it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from devstack.process import ROOT, ServerProcess
from simulators.dingtalk.callbacks import EXTERNAL_CORP_ID
from tests.simulators.test_dingtalk_web import CHOICE, StubBot, start_dingtalk, zadig_trigger

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
MSG = '[data-testid="message"]'


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        script = ROOT / "scripts" / "ensure_chromium.sh"
        try:
            subprocess.run([str(script)], check=True, capture_output=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"{CHROMIUM} is missing and {script.name} could not install it: {exc}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Root in a container: Chromium's sandbox needs user namespaces we may not have.
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def bot(zadig_process: ServerProcess) -> Iterator[StubBot]:
    stub = StubBot(result_delay=1.5, zadig_url=zadig_process.url)
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def dingtalk(bot: StubBot, zadig_process: ServerProcess) -> Iterator[ServerProcess]:
    proc = start_dingtalk(bot.url, zadig_process.url)
    yield proc
    proc.stop()


@pytest.fixture
def page(
    browser: Browser, dingtalk: ServerProcess, bot: StubBot, zadig_process: ServerProcess
) -> Iterator[Page]:
    """A fresh page on fresh simulators, in a group of its own."""
    httpx.post(dingtalk.url + "/_sim/reset").raise_for_status()
    httpx.post(zadig_process.url + "/_sim/reset").raise_for_status()
    bot.calls.clear()
    context = browser.new_context(viewport={"width": 1360, "height": 860}, locale="zh-CN")
    tab = context.new_page()
    errors: list = []
    tab.on("pageerror", lambda exc: errors.append(exc))
    tab.goto(f"{dingtalk.url}/chat?group=cid-browser-{time.time_ns()}")
    expect(tab.get_by_test_id("app")).to_have_attribute("data-ready", "true")
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def send(page: Page, text: str) -> None:
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("send-button").click()


def task_row(page: Page, workflow: str, task_id: int) -> Locator:
    return page.locator(
        f'[data-testid="zadig-task"][data-workflow="{workflow}"][data-task-id="{task_id}"]'
    )


def last_call(bot: StubBot, count: int) -> Dict[str, Any]:
    return bot.wait_calls(count)[count - 1]


def test_a_round_trip_with_a_choice_and_a_later_notification(page: Page, bot: StubBot) -> None:
    page.evaluate("window.__sameDocument = true")
    send(page, "把订单服务发出去")
    mine = page.locator(f'{MSG}[data-kind="user"]').first
    expect(mine).to_have_attribute("data-sender", "user123")
    expect(mine.get_by_test_id("message-sender")).to_have_text("张三")
    expect(mine.get_by_test_id("message-content")).to_have_text("把订单服务发出去")
    expect(mine).to_have_class("msg msg-user mine")
    assert last_call(bot, 1)["text"]["content"] == " 把订单服务发出去"

    question = page.locator(f'{MSG}[data-kind="bot"]').first
    expect(question).to_have_attribute("data-msgtype", "markdown")
    expect(question.get_by_test_id("message-sender")).to_have_text("部署助手")
    expect(question.get_by_test_id("mention")).to_have_text("@张三")
    expect(question).to_have_class("msg msg-bot at-me")
    choice = question.get_by_test_id("choice")
    expect(choice).to_have_text("测试环境")
    expect(choice).to_have_attribute("data-content", CHOICE)
    expect(question.locator("li")).to_contain_text("（或回复：发到测试环境）")

    choice.click()
    expect(page.locator(f'{MSG}[data-kind="user"]')).to_have_count(2)
    expect(page.locator(f'{MSG}[data-kind="user"]').nth(1)).to_contain_text(CHOICE)
    assert last_call(bot, 2)["text"]["content"] == " " + CHOICE
    expect(page.locator(f'{MSG}[data-kind="bot"]').nth(1)).to_contain_text("开始发布 mall-test #")

    result = page.locator(f'{MSG}[data-route="openapi_group"]')
    expect(result).to_have_count(1, timeout=10_000)  # posted 1.5 s later, no reload
    content = result.get_by_test_id("message-content")
    expect(content.locator("h4")).to_have_text("发布成功")
    expect(content.locator("strong")).to_have_text("order-service")
    expect(content.locator("code")).to_have_text("test")
    expect(content.locator("a")).to_have_attribute("href", "http://zadig.example.com/t/1")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_test_id("zadig-task")).to_have_count(1)
    shot = os.environ.get("WEBCHAT_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot)


def test_switching_the_person_and_the_conversation(page: Page, bot: StubBot) -> None:
    page.get_by_test_id("user-switch").select_option("lead01")
    send(page, "我是李四")
    body = last_call(bot, 1)
    assert (body["senderStaffId"], body["senderNick"]) == ("lead01", "李四")
    said = page.locator(f'{MSG}[data-kind="user"]')
    expect(said.first).to_have_attribute("data-sender", "lead01")
    expect(said.first).to_have_class("msg msg-user mine")

    page.get_by_test_id("user-switch").select_option("guest01")
    expect(said.first).to_have_class("msg msg-user")  # 李四's, no longer mine
    send(page, "我是外部的")
    body = last_call(bot, 2)
    assert "senderStaffId" not in body and body["senderCorpId"] == EXTERNAL_CORP_ID
    expect(said.nth(1)).to_have_attribute("data-external", "true")
    expect(said.nth(1).get_by_test_id("message-sender")).to_have_text("王五")

    page.get_by_test_id("conversation-single").click()
    expect(page.get_by_test_id("app")).to_have_attribute("data-chat", "single")
    expect(page.locator(MSG)).to_have_count(0)
    send(page, "单聊一下")
    body = last_call(bot, 3)
    assert (body["conversationType"], body["conversationId"]) == ("1", "cid-single-guest01")
    expect(page.locator(f'{MSG}[data-kind="bot"]')).to_have_count(1)

    page.get_by_test_id("conversation-group").click()
    expect(page.locator(f'{MSG}[data-kind="user"]')).to_have_count(2)


def test_the_zadig_panel_shows_live_tasks_and_steers_the_simulator(
    page: Page, zadig_process: ServerProcess
) -> None:
    page.get_by_test_id("outcome-stage").select_option("deploy")
    page.get_by_test_id("outcome-fail").click()
    expect(page.get_by_test_id("outcome-pending")).to_have_attribute("data-count", "1")
    failing = zadig_trigger(zadig_process.url)
    row = task_row(page, "mall-test", failing)
    expect(row).to_have_attribute("data-status", "failed", timeout=10_000)
    expect(row.locator('[data-testid="zadig-stage"][data-stage="deploy"]')).to_have_attribute(
        "data-status", "failed"
    )
    expect(page.get_by_test_id("outcome-pending")).to_have_attribute("data-count", "0")

    page.get_by_test_id("approval-workflow").select_option("mall-test")
    page.get_by_test_id("approval-on").click()
    expect(page.get_by_test_id("approval-state")).to_have_attribute("data-workflows", "mall-test")
    waiting = zadig_trigger(zadig_process.url, approval="approve")
    row = task_row(page, "mall-test", waiting)
    # Zadig keeps such a task "running"; the panel marks the waiting approval.
    expect(row).to_have_attribute("data-approval", "waiting", timeout=10_000)
    expect(row.get_by_test_id("zadig-task-status")).to_have_text("待审批")
    row.get_by_test_id("zadig-approve").click()
    expect(row).to_have_attribute("data-status", "passed", timeout=10_000)
    page.get_by_test_id("approval-off").click()
    expect(page.get_by_test_id("approval-state")).to_have_attribute("data-workflows", "")

    page.get_by_test_id("outcome-hang").click()
    hanging = zadig_trigger(zadig_process.url, "mall-dev")
    row = task_row(page, "mall-dev", hanging)
    expect(row).to_have_attribute("data-status", "running", timeout=10_000)
    page.wait_for_timeout(1500)  # longer than the simulator's whole run: it hangs
    expect(row).to_have_attribute("data-status", "running")


MENTION = '<span class="mention" data-testid="mention" data-user="lead01">@李四</span>'
LINK = 'target="_blank" rel="noopener noreferrer"'
SAMPLES = {
    "<b>x</b> <img src=x onerror=alert(1)>": (
        "<p>&lt;b&gt;x&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;</p>"
    ),
    "## 标题\n**粗** *斜* `<i>` ~~删~~": (
        "<h2>标题</h2><p><strong>粗</strong> <em>斜</em> <code>&lt;i&gt;</code> <del>删</del></p>"
    ),
    "[a](javascript:alert(1)) [b](https://x.cn/?q=1&r=2) ![p](https://x.cn/p.png)": (
        f'<p>a <a href="https://x.cn/?q=1&amp;r=2" {LINK}>b</a> '
        '<span class="image">[图片]</span></p>'
    ),
    "- 一\n  - 二\n1. 三\n> 引用": (
        "<ul><li>一<ul><li>二</li></ul></li></ul><ol><li>三</li></ol>"
        "<blockquote><p>引用</p></blockquote>"
    ),
    "```\n<x>\n```\n---": "<pre><code>&lt;x&gt;</code></pre><hr>",
    "详情：http://z.cn/t/1?a=1&b=2。(see https://z.cn/x).": (
        f'<p>详情：<a href="http://z.cn/t/1?a=1&amp;b=2" {LINK}>http://z.cn/t/1?a=1&amp;b=2</a>。'
        f'(see <a href="https://z.cn/x" {LINK}>https://z.cn/x</a>).</p>'
    ),
    "行一\n@lead01 @someone a@lead01.cn": f"<p>行一<br>{MENTION} @someone a@lead01.cn</p>",
}


def test_the_markdown_renderer_escapes_everything_and_draws_dingtalk_markdown(page: Page) -> None:
    drawn = page.evaluate(
        """samples => samples.map(text => {
            const box = document.createElement("div");
            box.appendChild(DTMarkdown.markdown(text, {people: {lead01: "李四"}}));
            return box.innerHTML;
        })""",
        list(SAMPLES),
    )
    assert dict(zip(SAMPLES, drawn)) == SAMPLES
