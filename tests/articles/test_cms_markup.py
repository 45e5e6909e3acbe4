"""Joomla's cloaked addresses and WordPress's excerpt boilerplate leave the summary whole.

The fixtures are our own text in each CMS's real shape: Joomla 3's span + script (the
address in HTML-entity string pieces), Joomla 4/5's ``<joomla-hidden-mail>`` (base64
attributes), WordPress's "[…]", "Continue reading" link and Yoast's "appeared first on".
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from mailer.articles.feeds import clean_text, import_feed
from mailer.articles.models import Article
from tests.harness.feeds import Item, rss

NB_NOTICE_J3 = (
    "Denne e-postadressen er beskyttet mot programmer som samler e-postadresser. "
    "Du må aktivere javaskript for å kunne se den."
)
NB_NOTICE_J4 = (
    "Denne e-postadressen er beskyttet mot spambots. Du trenger JavaScript aktivert for å vise den."
)
EN_NOTICE = (
    "This email address is being protected from spambots. You need JavaScript enabled to view it."
)


def _entities(text: str) -> str:
    """Every other character as a decimal entity, as Joomla 3 writes the pieces."""
    return "".join(f"&#{ord(c)};" if i % 2 else c for i, c in enumerate(text))


def joomla3(address: str, notice: str, cloak_id: str = "5f3c9a1e2b7d") -> str:
    local, domain = address.split("@")
    host, tld = domain.rsplit(".", 1)
    return (
        f'<span id="cloak{cloak_id}">{notice}</span>'
        "<script type='text/javascript'>\n //<!--\n"
        f" document.getElementById('cloak{cloak_id}').innerHTML = '';\n"
        " var prefix = '&#109;a' + 'i&#108;' + '&#116;o';\n"
        " var path = 'hr' + 'ef' + '=';\n"
        f" var addy{cloak_id} = '{_entities(local)}' + '&#64;';\n"
        f" addy{cloak_id} = addy{cloak_id} + '{_entities(host)}' + '&#46;' + '{_entities(tld)}';\n"
        f" var addy_text{cloak_id} = '{_entities(local)}' + '&#64;' + '{_entities(host)}'"
        f" + '&#46;' + '{_entities(tld)}';"
        f"document.getElementById('cloak{cloak_id}').innerHTML += '<a ' + path + '\\'' + prefix"
        f" + ':' + addy{cloak_id} + '\\'>'+addy_text{cloak_id}+'<\\/a>';\n //-->\n </script>"
    )


def joomla4(address: str, notice: str) -> str:
    local, domain = address.split("@")

    def b64(v: str) -> str:
        return base64.b64encode(v.encode()).decode()

    return (
        f'<joomla-hidden-mail  is-link="1" is-email="1" first="{b64(local)}" '
        f'last="{b64(domain)}" text="{b64(address)}" base="" >{notice}</joomla-hidden-mail>'
    )


@pytest.mark.parametrize("notice", [NB_NOTICE_J3, NB_NOTICE_J4, EN_NOTICE])
def test_joomla3_cloak_is_gone_and_the_address_recovered(notice):
    body = f"<p>Kontakt rådgiver Åse Berg: {joomla3('aase.berg@europakontor.no', notice)}</p>"
    assert clean_text(body) == "Kontakt rådgiver Åse Berg: aase.berg@europakontor.no"


@pytest.mark.parametrize("notice", [NB_NOTICE_J3, NB_NOTICE_J4, EN_NOTICE])
def test_joomla4_hidden_mail_is_gone_and_the_address_recovered(notice):
    body = f"<p>Write to {joomla4('post@osloregion.example', notice)} for the programme.</p>"
    assert clean_text(body) == "Write to post@osloregion.example for the programme."


def test_a_cloak_without_a_readable_address_leaves_nothing_not_even_the_label():
    script_only = (
        '<p>Direktør Per Ås</p><p>E-post: <span id="cloakab12">'
        f"{NB_NOTICE_J3}</span><script>document.getElementById('cloakab12').innerHTML = "
        "'';var prefix = 'ma' + 'il';</script></p><p>+47 22 00 00 00</p>"
    )
    assert clean_text(script_only) == "Direktør Per Ås +47 22 00 00 00"
    broken_j4 = (
        f'<p>Skriv til <joomla-hidden-mail first="%%%" last="">{NB_NOTICE_J4}'
        "</joomla-hidden-mail>.</p>"
    )
    assert clean_text(broken_j4) == "Skriv til ."
    # A script that escaped its span still never leaves its pieces behind.
    stray = (
        "<p>Tekst.</p><script>var addy9 = 'm&#108;' + 'tu'; "
        "document.getElementById('cloak9')</script>"
    )
    assert clean_text(stray) == "Tekst."


def test_an_address_with_its_label_keeps_the_label():
    body = f"<p>E-post: {joomla3('kari@example.no', NB_NOTICE_J3)}</p>"
    assert clean_text(body) == "E-post: kari@example.no"


WP_EN = (
    "<p>The region's councils met in Brussels to compare climate plans &#8230; and budgets "
    "[&hellip;]</p>"
    '<p><a href="https://site.example/climate/" class="more-link">Continue reading '
    '<span class="screen-reader-text">Councils compare climate plans</span></a></p>'
    '<p>The post <a rel="nofollow" href="https://site.example/climate/">Councils compare '
    'climate plans</a> appeared first on <a rel="nofollow" href="https://site.example">'
    "Oslo Region Office</a>.</p>"
)
WP_NB = (
    "<p>Kommunene i regionen møttes i Brussel for å sammenligne klimaplaner [&#8230;]</p>"
    '<p><a class="more-link" href="https://site.example/klima/">Fortsett å lese '
    '<span class="screen-reader-text">«Klimaplaner»</span> &rarr;</a></p>'
    '<p>Innlegget <a href="https://site.example/klima/">Klimaplaner</a> dukket først opp på '
    '<a href="https://site.example">Europakontoret</a>.</p>'
)


def test_wordpress_boilerplate_is_gone_in_en_and_nb():
    assert clean_text(WP_EN) == (
        "The region's councils met in Brussels to compare climate plans … and budgets"
    )
    assert clean_text(WP_NB) == (
        "Kommunene i regionen møttes i Brussel for å sammenligne klimaplaner"
    )
    # A plain-text excerpt (RSS description without markup) loses the same words.
    assert clean_text("Møtet samlet tolv kommuner [...] Continue reading →") == (
        "Møtet samlet tolv kommuner"
    )
    # Ordinary words that look alike stay.
    assert clean_text("<p>Innlegget fra ordføreren ble godt mottatt.</p>") == (
        "Innlegget fra ordføreren ble godt mottatt."
    )


@pytest.mark.rolled_back
def test_imported_summaries_from_joomla_and_wordpress_feeds_are_clean(session, rt, feed_server):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    feed_server.body = rss(
        [
            Item(
                "joomla3",
                "Kontaktgruppen møttes i Asker",
                "<p>Ordføreren ønsket velkommen.</p><p>Kontakt: "
                f"{joomla3('radgiver@europakontor.no', NB_NOTICE_J3)}</p>",
                now - timedelta(days=1),
            ),
            Item(
                "joomla4",
                "Network meeting in Brussels",
                f"<p>Questions to {joomla4('brussels@europakontor.no', EN_NOTICE)}.</p>",
                now - timedelta(days=2),
            ),
            Item("wordpress", "Klimaplaner", WP_NB, now - timedelta(days=3)),
        ]
    )
    import_feed(session, rt.settings, feed_server.url)
    summaries = {a.guid: a.summary for a in session.scalars(select(Article))}
    assert summaries == {
        "joomla3": "Ordføreren ønsket velkommen. Kontakt: radgiver@europakontor.no",
        "joomla4": "Questions to brussels@europakontor.no.",
        "wordpress": "Kommunene i regionen møttes i Brussel for å sammenligne klimaplaner",
    }
    for summary in summaries.values():
        for leak in ("beskyttet", "javaskript", "JavaScript", "spambots", "addy", "cloak", "…]"):
            assert leak not in summary
