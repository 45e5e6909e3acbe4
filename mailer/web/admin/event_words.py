"""The audit log and a reader's events in words, not codes (catalogue keys in Norwegian).

An event kind without words here shows as its code: a new kind is never hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailer.i18n import N_

EVENTS = {
    # What editors did in the admin (audit rows are "admin.<action>").
    "admin.login": N_("Logget inn"),
    "admin.login_failed": N_("Mislykket innlogging"),
    "admin.login_disabled": N_("Innlogging med deaktivert konto"),
    "admin.api_token": N_("Lagde en API-nøkkel"),
    "admin.api_token_revoke": N_("Trakk tilbake en API-nøkkel"),
    "admin.article_edit": N_("Redigerte en artikkel"),
    "admin.article_hide": N_("Skjulte en artikkel"),
    "admin.article_show": N_("Viste en skjult artikkel"),
    "admin.draft": N_("Lagde et utkast"),
    "admin.editor_create": N_("La til en redaktør"),
    "admin.editor_disable": N_("Deaktiverte en redaktør"),
    "admin.editor_enable": N_("Aktiverte en redaktør"),
    "admin.editor_role": N_("Endret rollen til en redaktør"),
    "admin.editor_sessions_end": N_("Avsluttet innlogginger"),
    "admin.erase": N_("Slettet en abonnent (GDPR)"),
    "admin.export": N_("Eksporterte abonnentene"),
    "admin.feed_add": N_("La til en strøm"),
    "admin.feed_poll": N_("Hentet en strøm"),
    "admin.feed_remove": N_("Fjernet en strøm"),
    "admin.import": N_("Importerte abonnenter"),
    "admin.language": N_("Byttet språk"),
    "admin.newsletter_settings": N_("Endret innstillingene"),
    "admin.password": N_("Byttet passord"),
    "admin.password_failed": N_("Feil passord ved passordbytte"),
    "admin.resend": N_("Sendte på nytt"),
    "admin.schedule": N_("Planla en utsendelse"),
    "admin.unschedule": N_("Avbrøt planleggingen"),
    "admin.send": N_("Startet en utsendelse"),
    "admin.pause": N_("Satte en utsendelse på pause"),
    "admin.resume": N_("Fortsatte en utsendelse"),
    "admin.cancel": N_("Avbrøt en utsendelse"),
    "admin.suppress": N_("Sperret en adresse"),
    "admin.test_send": N_("Sendte en test"),
    "admin.unsubscribe": N_("Meldte av en abonnent"),
    "admin.reactivate": N_("Aktiverte en abonnent igjen etter retur"),
    # What happened to a reader.
    "signup": N_("Meldte seg på"),
    "signup.repeat": N_("Meldte seg på igjen (var allerede påmeldt)"),
    "confirm": N_("Bekreftet påmeldingen"),
    "confirmation.sent": N_("Fikk e-post for å bekrefte"),
    "confirmation.refused": N_("E-posten for å bekrefte ble avvist av mottakerens server"),
    "confirmation.resend": N_("Ba om ny bekreftelses-e-post"),
    "unsubscribe": N_("Meldte seg av"),
    "preferences": N_("Endret innstillingene sine"),
    "subscription.bounced": N_("E-posten kom i retur (bounce)"),
    "subscription.complained": N_("Merket nyhetsbrevet som søppelpost og ble meldt av"),
    "subscription.reactivated": N_("Aktivert igjen av en redaktør"),
    "bounce.hard": N_("Permanent retur"),
    "bounce.soft": N_("Midlertidig retur"),
    "bounce.policy": N_("Avvist av mottakerens server (gjelder avsenderen)"),
    "bounce.complaint": N_("Klage på søppelpost"),
    "export.requested": N_("Ba om en kopi av opplysningene sine"),
    "suppression.lifted": N_("Sperren ble opphevet"),
}

# The data keys an event carries, in words; the rest are left out of the details.
DETAILS = {
    "url": N_("adresse"),
    "new": N_("nye"),
    "id": N_("artikkel"),
    "fields": N_("felt"),
    "rows": N_("rader"),
    "which": N_("hvilke"),
    "role": N_("rolle"),
    "email": N_("e-post"),
    "language": N_("språk"),
    "channel": N_("kanal"),
    "error": N_("feil"),
    "reason": N_("grunn"),
    "imported": N_("importert"),
    "file": N_("fil"),
    "when": N_("tidspunkt"),
    "name": N_("navn"),
    "topics_added": N_("temaer lagt til"),
    "topics_removed": N_("temaer fjernet"),
    "status": N_("statuskode"),
    "feedback_type": N_("type klage"),
    "score": N_("poeng"),
}
CHANNELS = {
    "web": N_("skjema"),
    "embed": N_("innebygd skjema"),
    "api": "API",
    "import": N_("import"),
}


def event_words(kind: str, translate: Callable[[str], str]) -> str:
    words = EVENTS.get(kind)
    return translate(words) if words else kind


def _value(key: str, value: Any, translate: Callable[[str], str]) -> str:
    if key == "channel" and isinstance(value, str):
        return translate(CHANNELS[value]) if value in CHANNELS else value
    if isinstance(value, list | tuple):
        return ", ".join(translate(DETAILS.get(str(v), str(v))) for v in value) or "–"
    if isinstance(value, dict):
        return "; ".join(
            f"{translate(DETAILS.get(str(k)) or str(k))}: {_value(k, v, translate)}"
            for k, v in value.items()
        )
    return str(value)


def event_details(data: dict[str, Any] | None, translate: Callable[[str], str]) -> str:
    """«adresse: https://…; nye: 3»: the known keys in words, ids and internals left out."""
    parts = []
    for key, value in (data or {}).items():
        if key == "changes" and isinstance(value, dict):
            parts.append(_value(key, value, translate))
        elif key in DETAILS:
            parts.append(f"{translate(DETAILS[key])}: {_value(key, value, translate)}")
    return "; ".join(p for p in parts if p)
