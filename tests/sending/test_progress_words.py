"""What the progress says at each moment: nothing to foresee before the rows exist or after
the end; a finished send's duration and average; the CLI bar's counts and rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailer.sending.cli import _line, bar_counts
from mailer.sending.progress import Progress
from mailer.sending.states import DeliveryStatus as S

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _counts(**n: int) -> dict[S, int]:
    counts = dict.fromkeys(S, 0)
    for key, value in n.items():
        counts[S(key.replace("_", "-"))] = value
    return counts


def test_before_the_rows_exist_there_is_no_eta_not_zero_seconds():
    state = Progress(1, "sending", _counts(), deliveries_created=False, rate=0.0)
    assert state.eta_seconds is None
    assert state.as_dict()["eta_seconds"] is None
    assert state.duration_seconds is None and state.average_rate is None


def test_a_finished_send_has_a_duration_and_an_average_and_no_eta():
    state = Progress(
        1,
        "sent",
        _counts(sent=255, failed=1),
        deliveries_created=True,
        rate=4.0,
        started_at=T0,
        last_sent_at=T0 + timedelta(seconds=2),
    )
    assert state.eta_seconds is None
    assert state.duration_seconds == 2.0
    assert state.average_rate == 127.5
    body = state.as_dict()
    assert (body["duration_seconds"], body["average_rate"], body["finished"]) == (2.0, 127.5, True)
    assert "took 2 s, 127.5/s on average" in _line(state)
    assert "ETA" not in _line(state)


def test_the_cli_bar_shows_each_outcome_and_the_rate():
    state = Progress(
        7,
        "sending",
        _counts(sent=40, failed=2, bounced=1, in_doubt=3, skipped=4, queued=50),
        deliveries_created=True,
        rate=12.34,
    )
    assert bar_counts(state) == "sent 40, failed 3, in-doubt 3, skipped 4 · 12.3/s"
    assert bar_counts(None) is None
    assert state.eta_seconds == 50 / 12.34
