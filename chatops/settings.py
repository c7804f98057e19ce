"""Configuration, read from the environment once per process.

Every variable is documented in ``.env.example``. With nothing set, the demo defaults apply:
the Zadig simulator on loopback, SQLite under ``var/``. Secrets are never logged: ``repr`` of
``Settings`` masks them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent

# Demo defaults: they only work against the bundled simulators and are not secrets.
DEMO_ZADIG_URL = "http://127.0.0.1:7070"
DEMO_ZADIG_TOKEN = "demo-zadig-token"
DEMO_APP_KEY = "demo-app-key"
DEMO_APP_SECRET = "demo-app-secret"
DEMO_DINGTALK_API = "http://127.0.0.1:7080"

_SECRETS = {"zadig_token", "dingtalk_app_secret", "zadig_webhook_token", "action_server_token"}
# A demo action-server token only works between the bundled processes on loopback.
DEMO_ACTION_TOKEN = "demo-action-server-token"


class SettingsError(ValueError):
    """A configuration value that cannot work; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    zadig_base_url: str = DEMO_ZADIG_URL
    zadig_token: str = DEMO_ZADIG_TOKEN
    zadig_web_url: str = DEMO_ZADIG_URL
    zadig_timeout: float = 10.0
    # The Zadig server's version, e.g. "4.1.0" (there is no API that says): what it keeps of a
    # workflow's approval jobs depends on it (docs/zadig-openapi.md §3.1, §8). Unknown = the bot
    # lists approval jobs and explains Zadig's refusal if the server is too old.
    zadig_version: Optional[Tuple[int, ...]] = None
    # Shared secret Zadig sends as X-Zadig-Token on workflow webhook notifications;
    # empty = webhook notifications are refused and follow-ups rely on polling.
    zadig_webhook_token: str = ""
    dingtalk_app_key: str = DEMO_APP_KEY
    dingtalk_app_secret: str = DEMO_APP_SECRET
    dingtalk_robot_code: str = DEMO_APP_KEY
    dingtalk_api_base: str = DEMO_DINGTALK_API
    dingtalk_mode: str = "http"
    # DingTalk throttles a robot above 20 messages a minute in one group (docs/dingtalk.md
    # §2.5): each conversation gets at most this many in any minute (a burst of
    # dingtalk_send_burst, then the rest spread out); 0 = no pacing.
    dingtalk_send_per_minute: int = 20
    dingtalk_send_burst: int = 5
    # Optional cap over all conversations together (0 = none).
    dingtalk_send_global_per_minute: int = 0
    # How long DingTalk refuses a conversation after "send too fast" (130101): 10 minutes.
    dingtalk_throttle_seconds: float = 600.0
    # How far a callback's timestamp may be from our clock (DingTalk documents one hour).
    dingtalk_signature_window: float = 3600.0
    catalog_path: Path = ROOT / "catalog.yml"
    state_db: Path = ROOT / "var" / "chatops.db"
    # SQLAlchemy URL of the shared database; empty = SQLite at state_db.
    db_url_override: str = ""
    followup_min_interval: float = 2.0
    followup_max_seconds: float = 6 * 3600
    # A production approval request expires after this long.
    approval_ttl_seconds: float = 1800.0
    # A message still unanswered this long after it arrived was lost in a crash.
    inbound_lost_seconds: float = 120.0
    # Shared secret Rasa sends to the action server (endpoints.yml); empty = refuse every call.
    action_server_token: str = DEMO_ACTION_TOKEN
    # The action server's Prometheus endpoint (actions/metrics.py): off unless a port is set.
    action_metrics_port: int = 0
    action_metrics_host: str = "127.0.0.1"
    demo: bool = True

    @property
    def db_url(self) -> str:
        return self.db_url_override or f"sqlite:///{self.state_db.resolve()}"

    def __repr__(self) -> str:  # never print secrets
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS and value:
                value = "***"
            elif f.name == "db_url_override" and value:
                value = _redact_password(str(value))
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


def _redact_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


def _version(env: Mapping[str, str], name: str) -> Optional[Tuple[int, ...]]:
    raw = (env.get(name) or "").strip().lstrip("vV")
    if not raw:
        return None
    parts = raw.split(".")
    if not all(p.isdigit() for p in parts):
        raise SettingsError(f"{name} must be a version like 4.1.0, got {raw!r}")
    return tuple(int(p) for p in parts)


def _db_url(env: Mapping[str, str]) -> str:
    url = (env.get("CHATOPS_DB_URL") or "").strip()
    if url and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:")):
        raise SettingsError(
            "CHATOPS_DB_URL must be a SQLAlchemy URL for SQLite or PostgreSQL, e.g. "
            "postgresql://chatops:<password>@db:5432/chatops"
        )
    return url


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must start with http:// or https://, got {value!r}")
    return value


def from_env(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Build settings from a mapping (default ``os.environ``); fails fast on bad values."""
    env = os.environ if env is None else env
    zadig_url = _url(env, "ZADIG_BASE_URL", DEMO_ZADIG_URL)
    app_key = env.get("DINGTALK_APP_KEY") or DEMO_APP_KEY
    mode = (env.get("DINGTALK_MODE") or "http").lower()
    if mode not in ("http", "stream"):
        raise SettingsError(f"DINGTALK_MODE must be 'http' or 'stream', got {mode!r}")
    demo = not any(env.get(k) for k in ("ZADIG_BASE_URL", "ZADIG_TOKEN", "DINGTALK_APP_SECRET"))
    if not demo and env.get("ZADIG_BASE_URL") and not env.get("ZADIG_TOKEN"):
        raise SettingsError("ZADIG_TOKEN is required when ZADIG_BASE_URL points at a real Zadig")
    return Settings(
        zadig_base_url=zadig_url,
        zadig_token=env.get("ZADIG_TOKEN") or DEMO_ZADIG_TOKEN,
        zadig_web_url=_url(env, "ZADIG_WEB_URL", zadig_url),
        zadig_timeout=_float(env, "ZADIG_TIMEOUT", 10.0),
        zadig_version=_version(env, "ZADIG_VERSION"),
        zadig_webhook_token=env.get("ZADIG_WEBHOOK_TOKEN", ""),
        dingtalk_app_key=app_key,
        dingtalk_app_secret=env.get("DINGTALK_APP_SECRET") or DEMO_APP_SECRET,
        dingtalk_robot_code=env.get("DINGTALK_ROBOT_CODE") or app_key,
        dingtalk_api_base=_url(
            env, "DINGTALK_API_BASE", DEMO_DINGTALK_API if demo else "https://api.dingtalk.com"
        ),
        dingtalk_mode=mode,
        dingtalk_send_per_minute=_count(env, "DINGTALK_SEND_PER_MINUTE", 20),
        dingtalk_send_burst=_count(env, "DINGTALK_SEND_BURST", 5),
        dingtalk_send_global_per_minute=_count(env, "DINGTALK_SEND_GLOBAL_PER_MINUTE", 0),
        dingtalk_signature_window=_float(env, "DINGTALK_SIGNATURE_WINDOW_SECONDS", 3600.0),
        dingtalk_throttle_seconds=_float(env, "DINGTALK_THROTTLE_SECONDS", 600.0),
        catalog_path=Path(env.get("CATALOG_PATH") or ROOT / "catalog.yml"),
        state_db=Path(env.get("CHATOPS_DB") or ROOT / "var" / "chatops.db"),
        db_url_override=_db_url(env),
        followup_min_interval=_float(env, "FOLLOWUP_MIN_INTERVAL", 2.0),
        followup_max_seconds=_float(env, "FOLLOWUP_MAX_SECONDS", 6 * 3600),
        inbound_lost_seconds=_float(env, "INBOUND_LOST_SECONDS", 120.0),
        approval_ttl_seconds=_float(env, "APPROVAL_TTL_SECONDS", 1800.0),
        action_server_token=env.get("ACTION_SERVER_TOKEN") or (DEMO_ACTION_TOKEN if demo else ""),
        action_metrics_port=int(_float(env, "ACTION_METRICS_PORT", 0)),
        action_metrics_host=env.get("ACTION_METRICS_HOST") or "127.0.0.1",
        demo=demo,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time)."""
    return from_env()
