"""Credentials never reach a log line: sessionWebhook URLs, tokens, signatures, secrets."""

from __future__ import annotations

import logging

import pytest

from chatops.redact import MASK, install, redact

SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4c2f8f59e8"


@pytest.mark.parametrize(
    "line, secret",
    [
        (f'HTTP Request: POST {SESSION} "HTTP/1.1 200 OK"', "76da36b4c2f8f59e8"),
        ("GET /gettoken?appkey=k&appsecret=s3cr3tvalue", "s3cr3tvalue"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ('{"x-acs-dingtalk-access-token": "at-123456789"}', "at-123456789"),
        ("timestamp=1700000000000&sign=abc%2Bdef%3D", "abc%2Bdef%3D"),
    ],
)
def test_credentials_are_masked(line, secret):
    clean = redact(line)
    assert secret not in clean and MASK in clean


def test_configured_secrets_are_masked_wherever_they_appear():
    assert redact("token is demo-zadig-token!", ["demo-zadig-token"]) == "token is ***!"


def test_every_log_record_of_the_process_is_masked(caplog, monkeypatch):
    monkeypatch.setenv("DINGTALK_APP_SECRET", "the-app-secret-value")
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        install()
        install()  # idempotent
        logger = logging.getLogger("httpx")
        with caplog.at_level(logging.INFO, logger="httpx"):
            logger.info("HTTP Request: %s %s", "POST", SESSION)
            try:
                raise ValueError(f"cannot reach {SESSION} with the-app-secret-value")
            except ValueError:
                logger.exception("send failed")
        text = caplog.text
        assert "76da36b4c2f8f59e8" not in text and "the-app-secret-value" not in text
        assert "session=***" in text
    finally:
        logging.setLogRecordFactory(previous)
