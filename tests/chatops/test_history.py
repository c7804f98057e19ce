"""Reading periods and counts from "今天谁发了生产", "最近 5 次", "近一周"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chatops.history import DEFAULT_LIMIT, MAX_LIMIT, parse_limit, parse_period

TZ = ZoneInfo("Asia/Shanghai")
# Wednesday 2026-11-25 15:30 in Shanghai.
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=TZ).timestamp()


@pytest.mark.parametrize(
    "text, start, words",
    [
        ("今天谁发了生产", datetime(2026, 11, 25, tzinfo=TZ), "今天"),
        ("昨天晚上谁动了生产", datetime(2026, 11, 24, tzinfo=TZ), "昨天以来"),
        ("最近3天的发布记录", datetime(2026, 11, 23, tzinfo=TZ), "最近3天"),
        ("近一周测试环境的发布", datetime(2026, 11, 19, tzinfo=TZ), "近一周"),
        ("本周发了什么", datetime(2026, 11, 23, tzinfo=TZ), "本周"),
        ("上周的上线记录", datetime(2026, 11, 16, tzinfo=TZ), "上周以来"),
    ],
)
def test_periods_start_at_midnight_in_the_catalog_timezone(text, start, words):
    assert parse_period(text, NOW, TZ) == (start.timestamp(), words)


def test_no_period_means_all_time():
    assert parse_period("发布记录", NOW, TZ) == (None, "")


@pytest.mark.parametrize(
    "text, limit",
    [("最近5次", 5), ("列一下最近10次部署", 10), ("最近三次发布", 3), ("发布记录", DEFAULT_LIMIT)],
)
def test_counts(text, limit):
    assert parse_limit(text) == limit


def test_counts_are_capped():
    assert parse_limit("最近500条") == MAX_LIMIT
