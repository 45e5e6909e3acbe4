"""A feed poll that fails is counted (mailer_feed_poll_failures_total); one that works is not."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from mailer.articles import tasks
from mailer.articles.registry import add_feed
from tests.harness.feeds import default_items, rss

pytestmark = pytest.mark.rolled_back


def _failures() -> float:
    return REGISTRY.get_sample_value("mailer_feed_poll_failures_total") or 0.0


def test_failed_polls_are_counted(app, rt, session, feed_server) -> None:
    feed = add_feed(session, rt.settings, feed_server.url)
    session.commit()
    before = _failures()

    feed_server.status = 404
    with app.app_context():
        tasks.poll_feed.run(feed.id)
    assert _failures() == before + 1

    feed_server.status = 200
    feed_server.body = rss(default_items())
    with app.app_context():
        tasks.poll_feed.run(feed.id)
    assert _failures() == before + 1
