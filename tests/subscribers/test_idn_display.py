"""IDN domains: stored in punycode, shown and searched as people write them."""

from __future__ import annotations

from mailer.subscribers.addresses import display_email, normalise_email, punycode_query


def test_stored_punycode_shows_in_unicode_and_plain_addresses_are_untouched():
    stored = normalise_email("Ola@Blåbær.no")
    assert stored == "ola@xn--blbr-roah.no"  # what we store and send to, as before
    assert display_email(stored) == "ola@blåbær.no"
    assert display_email("kari@sub.xn--blbr-roah.no") == "kari@sub.blåbær.no"
    assert display_email("kari@example.no") == "kari@example.no"
    assert display_email("odd@xn--a.no") == "odd@xn--a.no"  # not valid punycode: as is


def test_search_words_become_the_stored_spelling():
    assert punycode_query("blåbær") == "xn--blbr-roah"
    assert punycode_query("ola@blåbær.no") == "ola@xn--blbr-roah.no"
    assert punycode_query("example.no") is None
    assert punycode_query("ola") is None
