"""The demo's web chat page against the real bot, in a real browser: a deploy with its result,
and a production deploy confirmed by 张三 and approved by 李四."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

playwright = pytest.importorskip("playwright.sync_api")

from devstack import webchat  # noqa: E402
from tests.e2e.helpers import triggers  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    if not webchat.CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `make browser` installs it (scripts/ensure_chromium.sh)")
    with webchat.chromium() as launched:
        yield launched


def test_deploy_then_a_production_deploy_approved_by_a_release_manager(stack, zadig, browser):
    page = webchat.open_chat(browser, stack.dingtalk_url, f"cid-web-{time.time_ns()}")
    errors: list = []
    page.on("pageerror", lambda exc: errors.append(exc))

    number = webchat.production_scenario(page)

    started = webchat.wait_for_bot(page, f"李四 批准了审批 #{number}")
    assert "已开始发布 gateway → prod" in started
    assert len(triggers(zadig, "mall-prod")) == 1
    # Who spoke is who DingTalk says: the approval came from lead01, the request from user123.
    mine = page.locator('[data-testid="message"][data-kind="user"]')
    assert mine.last.get_attribute("data-sender") == "lead01"
    assert mine.first.get_attribute("data-sender") == "user123"
    assert errors == []
