from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ingestq.backoff import backoff_delay, next_delay, parse_retry_after

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")


def test_default_schedule_is_about_15s_1min_5min() -> None:
    rng = random.Random(7)
    for retry, target in ((1, 15), (2, 60), (3, 300)):
        delays = [backoff_delay(retry, 15, rng) for _ in range(200)]
        assert min(delays) >= target * 0.8 and max(delays) <= target * 1.2
        assert max(delays) - min(delays) > target * 0.2, "jitter spreads retries out"


def test_backoff_scales_from_the_first_delay() -> None:
    assert backoff_delay(2, 0.1, random.Random(1)) == pytest.approx(0.4, rel=0.21)
    assert backoff_delay(4, 1, random.Random(1)) == pytest.approx(100, rel=0.21)


def test_retries_run_out() -> None:
    assert next_delay(1, 3, 15) is not None
    assert next_delay(3, 3, 15) is not None
    assert next_delay(4, 3, 15) is None
    assert next_delay(1, 0, 15) is None


def test_retry_after_wins_and_is_capped() -> None:
    assert next_delay(1, 3, 15, retry_after=2) == 2
    assert parse_retry_after("120") == 120
    assert parse_retry_after("999999") == 3600
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90)
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
