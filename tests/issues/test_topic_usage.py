"""Readers per topic and the feeds' categories not yet topics, counted in the database."""

from __future__ import annotations

import pytest

from mailer.errors import ValidationFailed
from mailer.issues.newsletter import current_topics, update_settings
from mailer.issues.topic_usage import add_topic, readers_per_topic, suggested_topics
from tests.harness import factories

pytestmark = pytest.mark.rolled_back


def test_counts_and_suggestions(session, rt):
    update_settings(session, "Europanytt", "nb", ["Klima", "Forskning"], rt.settings)
    for i, (status, topics) in enumerate(
        [("active", ["Klima"]), ("active", ["Klima", "Forskning"]), ("unsubscribed", ["Klima"])]
    ):
        factories.subscription(session, f"leser{i}@example.no", status=status).topics = topics
    for i, categories in enumerate([["Helse", "klima"], ["Helse"], ["Ærø"], []]):
        factories.article(session, f"sak-{i}", f"Sak {i}").topics = categories
    session.flush()

    assert readers_per_topic(session, rt.settings) == [("Klima", 2), ("Forskning", 1)]
    # «klima» is Klima in another case: not suggested; the most used first.
    assert suggested_topics(session, rt.settings) == [("Helse", 2), ("Ærø", 1)]

    add_topic(session, "Ærø", rt.settings, ui="nb")
    assert current_topics(session, rt.settings) == ("Klima", "Forskning", "Ærø")
    assert suggested_topics(session, rt.settings) == [("Helse", 2)]
    with pytest.raises(ValidationFailed) as failed:
        add_topic(session, "x" * 61, rt.settings, ui="en")
    assert list(failed.value.errors) == ["topics"]
