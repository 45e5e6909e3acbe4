"""Words for states, in Norwegian (the catalogue key); templates translate them."""

from __future__ import annotations

ISSUE = {
    "draft": "Utkast",
    "scheduled": "Planlagt",
    "sending": "Sendes",
    "paused": "På pause",
    "sent": "Sendt",
    "cancelled": "Avbrutt",
}
DELIVERY = {
    "queued": "I kø",
    "sending": "Sendes nå",
    "sent": "Sendt",
    "failed": "Feilet",
    "bounced": "Avvist",
    "in-doubt": "Usikker",
    "skipped": "Hoppet over",
}
SUBSCRIPTION = {
    "pending": "Venter på bekreftelse",
    "active": "Aktiv",
    "unsubscribed": "Avmeldt",
    "bounced": "Avvist (bounce)",
    "complained": "Klaget",
}
CONSENT = {
    "signup": "Påmelding",
    "confirm": "Bekreftelse",
    "unsubscribe": "Avmelding",
    "preferences": "Nye innstillinger",
}
FIELDS = {
    "subject": "Emne",
    "intro": "Innledning",
    "article_id": "Artikkel",
    "article_ids": "Artikler",
    "status": "Status",
    "when": "Tidspunkt",
    "as": "Abonnent",
    "to": "Mottaker",
    "email": "E-postadresse",
    "name": "Navn",
    "language": "Språk",
    "topics": "Temaer",
    "file": "Fil",
    "mapping": "Kolonner",
    "upload": "Opplasting",
    "confirm": "Bekreftelse",
    "consent": "Samtykke",
    "url": "Adresse",
    "role": "Rolle",
    "password": "Passord",
    "current_password": "Nåværende passord",
    "new_password": "Nytt passord",
    "repeat_password": "Gjenta nytt passord",
    "q": "Søk",
    "state": "Status",
    "topic": "Tema",
    "page": "Side",
    "editor": "Redaktør",
    "expires_days": "Gyldig",
}
ALL = {
    "consent": CONSENT,
    "issue": ISSUE,
    "delivery": DELIVERY,
    "subscription": SUBSCRIPTION,
    "field": FIELDS,
}


def label(kind: str, value: str) -> str:
    return ALL[kind].get(value, value)
