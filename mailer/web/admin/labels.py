"""Words for states, in Norwegian (the catalogue key); templates translate them."""

from __future__ import annotations

from mailer.i18n import N_

ISSUE = {
    "draft": N_("Utkast"),
    "scheduled": N_("Planlagt"),
    "sending": N_("Sendes"),
    "paused": N_("På pause"),
    "sent": N_("Sendt"),
    "cancelled": N_("Avbrutt"),
}
DELIVERY = {
    "queued": N_("I kø"),
    "sending": N_("Sendes nå"),
    "sent": N_("Sendt"),
    "failed": N_("Feilet"),
    "bounced": N_("Avvist"),
    "in-doubt": N_("Usikker"),
    "skipped": N_("Hoppet over"),
}
SUBSCRIPTION = {
    "pending": N_("Venter på bekreftelse"),
    "active": N_("Aktiv"),
    "unsubscribed": N_("Avmeldt"),
    "bounced": N_("Avvist (bounce)"),
    "complained": N_("Klaget"),
}
CONSENT = {
    "signup": N_("Påmelding"),
    "confirm": N_("Bekreftelse"),
    "unsubscribe": N_("Avmelding"),
    "preferences": N_("Nye innstillinger"),
}
FIELDS = {
    "subject": N_("Emne"),
    "intro": N_("Innledning"),
    "article_id": N_("Artikkel"),
    "article_ids": N_("Artikler"),
    "status": N_("Status"),
    "when": N_("Tidspunkt"),
    "as": N_("Abonnent"),
    "to": N_("Mottaker"),
    "email": N_("E-postadresse"),
    "name": N_("Navn"),
    "language": N_("Språk"),
    "topics": N_("Temaer"),
    "file": N_("Fil"),
    "mapping": N_("Kolonner"),
    "upload": N_("Opplasting"),
    "confirm": N_("Bekreftelse"),
    "consent": N_("Samtykke"),
    "url": N_("Adresse"),
    "role": N_("Rolle"),
    "password": N_("Passord"),
    "current_password": N_("Nåværende passord"),
    "new_password": N_("Nytt passord"),
    "repeat_password": N_("Gjenta nytt passord"),
    "q": N_("Søk"),
    "state": N_("Status"),
    "topic": N_("Tema"),
    "page": N_("Side"),
    "editor": N_("Redaktør"),
    "expires_days": N_("Gyldig"),
    "title": N_("Tittel"),
    "summary": N_("Sammendrag"),
    "image_url": N_("Bildeadresse"),
    "image_alt": N_("Alternativ tekst til bildet"),
    "image_caption": N_("Bildetekst"),
    "base_url": N_("Adressen tjenesten svarer på"),
    "organisation": N_("Organisasjon"),
    "postal_address": N_("Postadresse"),
    "sender": N_("Avsender"),
    "privacy_url": N_("Lenke til personvernerklæringen"),
    "description": N_("Kort beskrivelse (norsk)"),
    "description_en": N_("Kort beskrivelse (engelsk)"),
    "frequency": N_("Hvor ofte det kommer (norsk)"),
    "frequency_en": N_("Hvor ofte det kommer (engelsk)"),
    "allowed_origins": N_("Nettsteder som kan bygge inn skjemaet"),
    "welcome_subject": N_("Emne (norsk)"),
    "welcome_body": N_("Tekst (norsk)"),
    "welcome_subject_en": N_("Emne (engelsk)"),
    "welcome_body_en": N_("Tekst (engelsk)"),
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
