import pytest

from chatops.dingtalk.signing import SignatureError, sign, verify_request

VECTORS = [
    ("1684493546276", "client-secret-for-test", "nwBJQmaBLv9+5/sSS/66jcFc1/kGY5wo38L88LOGfRU="),
    ("1577262236757", "this is secret", "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="),
]


@pytest.mark.parametrize("timestamp,secret,expected", VECTORS)
def test_sign_matches_docs_vectors(timestamp, secret, expected):
    assert sign(timestamp, secret) == expected


@pytest.mark.parametrize("timestamp,secret,expected", VECTORS)
def test_verify_accepts_docs_vectors_at_their_time(timestamp, secret, expected):
    verify_request(timestamp, expected, secret, now_ms=int(timestamp) + 1000)


def _reason(*args, **kwargs):
    with pytest.raises(SignatureError) as info:
        verify_request(*args, **kwargs)
    return info.value.reason


def test_skew_of_exactly_one_hour_is_allowed_either_way():
    ts = "1684493546276"
    good = sign(ts, "s")
    verify_request(ts, good, "s", now_ms=int(ts) + 3_600_000)
    verify_request(ts, good, "s", now_ms=int(ts) - 3_600_000)


def test_more_than_one_hour_is_stale_in_both_directions():
    ts = "1684493546276"
    good = sign(ts, "s")
    assert _reason(ts, good, "s", now_ms=int(ts) + 3_601_000) == "stale"
    assert _reason(ts, good, "s", now_ms=int(ts) - 3_601_000) == "stale"


def test_custom_skew_window():
    ts = "1684493546276"
    assert _reason(ts, sign(ts, "s"), "s", now_ms=int(ts) + 61_000, max_skew_ms=60_000) == "stale"


def test_forged_signature_wrong_secret_or_tampered_timestamp():
    ts, secret, good = VECTORS[0]
    now = int(ts)
    assert _reason(ts, sign(ts, "another-secret"), secret, now_ms=now) == "forged"
    assert _reason(str(now + 1), good, secret, now_ms=now) == "forged"
    assert _reason(ts, good[:-2] + "A=", secret, now_ms=now) == "forged"
    assert _reason(ts, "not base64 at all ✗", secret, now_ms=now) == "forged"


@pytest.mark.parametrize(
    "timestamp,signature", [(None, "x"), ("1", None), ("", "x"), ("1", ""), (None, None)]
)
def test_missing_headers(timestamp, signature):
    assert _reason(timestamp, signature, "s", now_ms=1) == "missing"


@pytest.mark.parametrize("timestamp", ["abc", "1.5e12", "-1684493546276", "１２３"])
def test_bad_timestamp(timestamp):
    assert _reason(timestamp, "x", "s", now_ms=1) == "bad_timestamp"


def test_uses_wall_clock_when_now_not_given():
    import time

    ts = str(int(time.time() * 1000))
    verify_request(ts, sign(ts, "s"), "s")
    old = str(int(time.time() * 1000) - 2 * 3_600_000)
    assert _reason(old, sign(old, "s"), "s") == "stale"


def test_error_carries_reason_and_never_the_secret():
    ts, secret, _ = VECTORS[0]
    with pytest.raises(SignatureError) as info:
        verify_request(ts, "bad", secret, now_ms=int(ts))
    assert info.value.reason == "forged"
    assert secret not in str(info.value)
