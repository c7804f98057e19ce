"""Driving the demo's web chat page (served by the DingTalk simulator at ``/chat``) in Debian's
chromium through Playwright: for the full-stack browser test and the README's screenshot.

Playwright's own browser download cannot work on these machines: it drives /usr/bin/chromium,
installed by scripts/ensure_chromium.sh. The page's ``data-testid`` contract is documented in
simulators/dingtalk/web/__init__.py.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
BOT = '[data-testid="message"][data-kind="bot"]'


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Root in a container: Chromium's sandbox needs user namespaces we may not have.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def open_chat(browser: Browser, dingtalk_url: str, group: str) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{dingtalk_url}/chat?group={group}")
    expect(page.get_by_test_id("app")).to_have_attribute("data-ready", "true")
    return page


def speak_as(page: Page, person: str) -> None:
    """``user123`` (张三, a developer), ``lead01`` (李四, a release manager), ``guest01`` (王五,
    outside the organisation)."""
    page.get_by_test_id("user-switch").select_option(person)


def send(page: Page, text: str) -> None:
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("send-button").click()


def wait_for_bot(page: Page, fragment: str, timeout: float = 30.0) -> str:
    """The text of the first bot message containing ``fragment`` (waiting up to ``timeout``)."""
    message = page.locator(BOT, has_text=fragment).first
    expect(message).to_be_visible(timeout=timeout * 1000)
    return message.inner_text()


def approval_number(text: str) -> int:
    match = re.search(r"审批 #(\d+)", text)
    if match is None:
        raise AssertionError(f"no approval number in {text!r}")
    return int(match.group(1))


def production_scenario(page: Page) -> int:
    """张三 deploys to test and sees the result; asks for production, confirms; 李四 approves and
    the task starts. Returns the approval number."""
    speak_as(page, "user123")
    send(page, "把订单服务发布到测试环境")
    wait_for_bot(page, "已开始发布 order-service → test")
    wait_for_bot(page, "发布成功")
    send(page, "把网关发到生产环境")
    wait_for_bot(page, "请确认")
    page.locator(BOT, has_text="请确认").last.get_by_test_id("choice").first.click()
    number = approval_number(wait_for_bot(page, "审批 #"))
    speak_as(page, "lead01")
    send(page, f"批准 {number}")
    wait_for_bot(page, f"李四 批准了审批 #{number}")
    time.sleep(0.5)
    return number
