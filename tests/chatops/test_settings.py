"""chatops/settings.py: demo defaults, overrides, fail-fast validation, masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops import settings as settings_module
from chatops.settings import ROOT, Settings, SettingsError, from_env, get_settings

REAL = {
    "ZADIG_BASE_URL": "https://zadig.example.com/",
    "ZADIG_TOKEN": "zadig-secret-token",
    "ZADIG_WEB_URL": "https://zadig-ui.example.com",
    "ZADIG_TIMEOUT": "4.5",
    "ZADIG_WEBHOOK_TOKEN": "webhook-shared-secret",
    "DINGTALK_APP_KEY": "dingabc",
    "DINGTALK_APP_SECRET": "dingtalk-app-secret-value",
    "DINGTALK_ROBOT_CODE": "robot-1",
    "DINGTALK_API_BASE": "https://api.dingtalk.com",
    "DINGTALK_MODE": "Stream",
    "CATALOG_PATH": "/etc/chatops/catalog.yml",
    "CHATOPS_DB": "/var/lib/chatops/state.db",
    "FOLLOWUP_MIN_INTERVAL": "3",
    "FOLLOWUP_MAX_SECONDS": "7200",
    "DINGTALK_SEND_PER_MINUTE": "12",
    "DINGTALK_SEND_BURST": "3",
    "DINGTALK_SEND_GLOBAL_PER_MINUTE": "600",
    "DINGTALK_SIGNATURE_WINDOW_SECONDS": "300",
    "CHATOPS_DB_URL": "postgresql://chatops:db-password-value@db:5432/chatops",
    "INBOUND_LOST_SECONDS": "90",
    "ACTION_SERVER_TOKEN": "action-server-shared-secret",
    "DINGTALK_THROTTLE_SECONDS": "120",
    "ZADIG_VERSION": "v4.0.2",
    "APPROVAL_TTL_SECONDS": "900",
}


def test_nothing_set_is_the_demo():
    s = from_env({})
    assert s == Settings()
    assert s.demo is True
    assert (s.zadig_base_url, s.zadig_token, s.zadig_web_url) == (
        "http://127.0.0.1:7070",
        "demo-zadig-token",
        "http://127.0.0.1:7070",
    )
    assert (s.dingtalk_app_key, s.dingtalk_app_secret, s.dingtalk_robot_code) == (
        "demo-app-key",
        "demo-app-secret",
        "demo-app-key",
    )
    assert (s.dingtalk_api_base, s.dingtalk_mode) == ("http://127.0.0.1:7080", "http")
    assert s.zadig_timeout == 10.0 and s.zadig_webhook_token == ""
    assert s.catalog_path == ROOT / "catalog.yml"
    assert s.state_db == ROOT / "var" / "chatops.db"
    assert (s.followup_min_interval, s.followup_max_seconds) == (2.0, 6 * 3600)


def test_empty_values_count_as_unset():
    assert from_env({k: "" for k in REAL}) == Settings()


def test_every_variable_overrides():
    s = from_env(REAL)
    assert s == Settings(
        zadig_base_url="https://zadig.example.com",  # trailing slash dropped
        zadig_token="zadig-secret-token",
        zadig_web_url="https://zadig-ui.example.com",
        zadig_timeout=4.5,
        zadig_webhook_token="webhook-shared-secret",
        dingtalk_app_key="dingabc",
        dingtalk_app_secret="dingtalk-app-secret-value",
        dingtalk_robot_code="robot-1",
        dingtalk_api_base="https://api.dingtalk.com",
        dingtalk_mode="stream",
        catalog_path=Path("/etc/chatops/catalog.yml"),
        state_db=Path("/var/lib/chatops/state.db"),
        followup_min_interval=3.0,
        followup_max_seconds=7200.0,
        dingtalk_send_per_minute=12,
        dingtalk_send_burst=3,
        dingtalk_send_global_per_minute=600,
        dingtalk_signature_window=300.0,
        db_url_override="postgresql://chatops:db-password-value@db:5432/chatops",
        inbound_lost_seconds=90.0,
        action_server_token="action-server-shared-secret",
        dingtalk_throttle_seconds=120.0,
        zadig_version=(4, 0, 2),
        approval_ttl_seconds=900.0,
        demo=False,
    )
    assert s.db_url == "postgresql://chatops:db-password-value@db:5432/chatops"


def test_the_database_is_sqlite_under_var_by_default():
    assert from_env({}).db_url == f"sqlite:///{ROOT / 'var' / 'chatops.db'}"
    assert from_env({"CHATOPS_DB": "/tmp/x/s.db"}).db_url == "sqlite:////tmp/x/s.db"


def test_a_database_url_that_is_neither_sqlite_nor_postgresql_is_refused():
    with pytest.raises(SettingsError, match="CHATOPS_DB_URL"):
        from_env({"CHATOPS_DB_URL": "mysql://u:p@h/db"})


def test_pacing_may_be_switched_off_but_not_negative():
    assert from_env({"DINGTALK_SEND_PER_MINUTE": "0"}).dingtalk_send_per_minute == 0
    with pytest.raises(SettingsError, match="DINGTALK_SEND_BURST must not be negative"):
        from_env({"DINGTALK_SEND_BURST": "-1"})


def test_outside_the_demo_an_unset_action_server_token_refuses_rather_than_defaults():
    assert from_env({}).action_server_token == "demo-action-server-token"
    real = {k: v for k, v in REAL.items() if k != "ACTION_SERVER_TOKEN"}
    assert from_env(real).action_server_token == ""


def test_derived_defaults():
    s = from_env(
        {"ZADIG_BASE_URL": "https://z.example.com", "ZADIG_TOKEN": "t", "DINGTALK_APP_KEY": "k"}
    )
    assert s.zadig_web_url == "https://z.example.com"
    assert s.dingtalk_robot_code == "k"
    assert s.demo is False
    # A real deployment talks to DingTalk itself, not the loopback simulator.
    assert s.dingtalk_api_base == "https://api.dingtalk.com"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("ZADIG_TIMEOUT", "ten", "ZADIG_TIMEOUT must be a number of seconds, got 'ten'"),
        ("ZADIG_TIMEOUT", "0", "ZADIG_TIMEOUT must be positive, got '0'"),
        ("ZADIG_TIMEOUT", "-3", "ZADIG_TIMEOUT must be positive, got '-3'"),
        (
            "FOLLOWUP_MIN_INTERVAL",
            "2s",
            "FOLLOWUP_MIN_INTERVAL must be a number of seconds, got '2s'",
        ),
        ("FOLLOWUP_MAX_SECONDS", "-1", "FOLLOWUP_MAX_SECONDS must be positive, got '-1'"),
        (
            "ZADIG_WEB_URL",
            "zadig.example.com",
            "ZADIG_WEB_URL must start with http:// or https://, got 'zadig.example.com'",
        ),
        ("DINGTALK_API_BASE", "ftp://x", "DINGTALK_API_BASE must start with http:// or https://"),
        ("DINGTALK_MODE", "websocket", "DINGTALK_MODE must be 'http' or 'stream', got 'websocket'"),
    ],
)
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError) as info:
        from_env({name: value})
    assert str(info.value).startswith(message)


def test_bad_zadig_base_url_is_named():
    with pytest.raises(
        SettingsError,
        match=r"^ZADIG_BASE_URL must start with http:// or "
        r"https://, got 'zadig\.example\.com'$",
    ):
        from_env({"ZADIG_BASE_URL": "zadig.example.com", "ZADIG_TOKEN": "t"})


def test_real_zadig_without_a_token_fails_fast():
    with pytest.raises(SettingsError, match="^ZADIG_TOKEN is required when ZADIG_BASE_URL"):
        from_env({"ZADIG_BASE_URL": "https://zadig.example.com"})


def test_nan_timeout_is_refused():
    with pytest.raises(SettingsError, match="ZADIG_TIMEOUT"):
        from_env({"ZADIG_TIMEOUT": "nan"})


def test_repr_masks_every_secret():
    text = repr(from_env(REAL))
    for secret in (
        "zadig-secret-token",
        "webhook-shared-secret",
        "dingtalk-app-secret-value",
        "db-password-value",
        "action-server-shared-secret",
    ):
        assert secret not in text
    assert "db_url_override='postgresql://chatops:***@db:5432/chatops'" in text
    assert "action_server_token='***'" in text
    assert "zadig_token='***'" in text
    assert "dingtalk_app_secret='***'" in text
    assert "zadig_webhook_token='***'" in text
    assert "zadig_base_url='https://zadig.example.com'" in text  # not a secret
    assert str(from_env(REAL)) == text
    # An unset secret shows as empty, not as a mask.
    assert "zadig_webhook_token=''" in repr(from_env({}))


def test_settings_error_messages_never_contain_secrets():
    env = dict(REAL, ZADIG_TIMEOUT="soon")
    with pytest.raises(SettingsError) as info:
        from_env(env)
    for secret in ("zadig-secret-token", "webhook-shared-secret", "dingtalk-app-secret-value"):
        assert secret not in str(info.value)


def test_get_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch):
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("ZADIG_BASE_URL", "https://once.example.com")
        monkeypatch.setenv("ZADIG_TOKEN", "t1")
        first = get_settings()
        monkeypatch.setenv("ZADIG_BASE_URL", "https://twice.example.com")
        assert get_settings() is first
        assert first.zadig_base_url == "https://once.example.com"
    finally:
        get_settings.cache_clear()


def test_importing_settings_reads_nothing(monkeypatch: pytest.MonkeyPatch):
    # The module builds nothing at import time: only get_settings() does.
    assert not any(isinstance(v, Settings) for v in vars(settings_module).values())
