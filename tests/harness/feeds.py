"""Our own Norwegian fixture articles, shaped like a regional EU office's CMS feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

CLOAK_NOTICE = (
    "Denne e-postadressen er beskyttet mot programmer som samler e-postadresser. "
    "Du må aktivere javaskript for å kunne se den."
)


@dataclass
class Item:
    guid: str
    title: str
    body_html: str
    published: datetime
    categories: list[str] = field(default_factory=list)
    enclosure: str | None = None  # an image enclosure's URL, in the RSS only

    @property
    def link(self) -> str:
        return f"https://europakontor.example.no/nyheter/{self.guid}"


def default_items(now: datetime | None = None) -> list[Item]:
    now = now or datetime.now(UTC)
    return [
        Item(
            "fjordbyer-klima",
            "Fjordbyer deler klimaløsninger på nettverksmøte i Drammen",
            "<p>Tolv kommuner møttes i Drammen for å utveksle erfaringer med "
            "klimatilpasning langs fjorden. «Vi lærer mest av hverandre», sa "
            "leder for nettverket, Åse Løvås.</p><p>Foto: Deltakerne på kaia.</p>",
            now - timedelta(days=3),
            ["Klima"],
        ),
        Item(
            "horisont-soknad",
            "Ny utlysning i Horisont Europa: frist 14. mars",
            "<p>Forskningsmiljøer i regionen kan nå søke om midler til "
            "samarbeidsprosjekter innen helse og teknologi – søknadsfristen er "
            '14. mars.</p><p>Kontakt rådgiver Bjørn Ærø: <span id="cloak1">'
            f"{CLOAK_NOTICE}</span><script>document.getElementById('cloak1')"
            ".innerHTML = 'x';</script></p>",
            now - timedelta(days=10),
            ["Forskning"],
        ),
        Item(
            "innovasjon-brussel",
            "Innovasjonsuke i Brussel med norske kommuner",
            "<p>Under innovasjonsuka i Brussel presenterte fem norske kommuner "
            "prosjekter om smarte byer &amp; digital forvaltning.</p>",
            now - timedelta(days=20),
            ["Innovasjon"],
        ),
    ]


def _enclosure(item: Item) -> str:
    if not item.enclosure:
        return ""
    return f'<enclosure url="{escape(item.enclosure)}" type="image/jpeg" length="48213"/>'


def rss(items: list[Item], title: str = "Europakontoret – nyheter") -> bytes:
    entries = "".join(
        f"""
    <item>
      <title>{escape(item.title)}</title>
      <link>{item.link}</link>
      <guid isPermaLink="false">{item.guid}</guid>
      <pubDate>{format_datetime(item.published)}</pubDate>
      {"".join(f"<category>{escape(c)}</category>" for c in item.categories)}
      {_enclosure(item)}
      <description>{escape(item.body_html)}</description>
    </item>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(title)}</title>
    <link>https://europakontor.example.no/</link>
    <description>Nyheter fra Europakontoret</description>
    <language>nb-no</language>{entries}
  </channel>
</rss>
""".encode()


def atom(items: list[Item]) -> bytes:
    entries = "".join(
        f"""
  <entry>
    <title>{escape(item.title)}</title>
    <link href="{item.link}"/>
    <id>urn:europakontor:{item.guid}</id>
    <updated>{item.published.isoformat()}</updated>
    {"".join(f'<category term="{escape(c)}"/>' for c in item.categories)}
    <content type="html">{escape(item.body_html)}</content>
  </entry>"""
        for item in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Europakontoret</title>
  <id>urn:europakontor</id>
  <updated>{datetime.now(UTC).isoformat()}</updated>{entries}
</feed>
""".encode()


def announcement_items(now: datetime | None = None) -> list[Item]:
    """Titles and bodies with entities, line breaks and «» for the cleaning checks."""
    now = now or datetime.now(UTC)
    return [
        Item(
            "forskning-og-innovasjon",
            "Forskning & innovasjon: «Horisont Europa» åpner ny runde",
            "<h3>Søknadsfrist 2. februar</h3><p>Kommunene på Østlandet kan søke "
            "sammen med bedrifter &amp; universiteter.<br>Spørsmål? Ring Ærøy "
            "på kontoret.</p><ul><li>Klima</li><li>Helse</li></ul>",
            now - timedelta(days=1),
            ["Forskning", "Innovasjon"],
        ),
    ]


def image_items(now: datetime | None = None) -> list[Item]:
    """Pictures in the body HTML, relative and absolute, with alt text and "Foto:" lines."""
    now = now or datetime.now(UTC)
    return [
        Item(
            "havnelosing-moss",
            "Moss viser fram ny havneløsning for europeiske partnere",
            '<p><img src="/bilder/2026/moss-havn.jpg" alt="Havna i Moss &amp; ferjeleiet '
            'sett fra lufta"></p><p>Moss havn tok imot tjue partnere fra seks land.</p>'
            "<p><em>Foto:</em> Moss havn KF</p><p>Neste møte blir i Gdańsk.</p>",
            now - timedelta(days=2),
            ["Innovasjon"],
        ),
        Item(
            "sykkelby-hamar",
            "Hamar vil bli Norges beste sykkelby med EU-støtte",
            '<p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><img '
            'src="bilder/sykkel.jpg" alt="">Hamar kommune får midler fra '
            "Interreg til nye sykkelveier.</p><p>PHOTO: Hamar kommune</p>"
            "<p>Foto: Ole Åsheim</p><p>Fotografene var også med på befaringen.</p>",
            now - timedelta(days=4),
            ["Klima"],
        ),
        Item(
            "enclosure-bodo",
            "Bodø som europeisk kulturhovedstad: hva nå?",
            '<p><img src="https://europakontor.example.no/bilder/bodo-liten.jpg" '
            'alt="Bodø sentrum">Et år etter kulturhovedstadsåret gjør Bodø opp status.</p>',
            now - timedelta(days=6),
            ["Innovasjon"],
            enclosure="https://cdn.europakontor.example.no/bodo-stor.jpg",
        ),
    ]
