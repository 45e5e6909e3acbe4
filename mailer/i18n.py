"""UI and mail strings in Norwegian Bokmål (the source) and English.

The Norwegian text is the key; English lives in one table so a missing
translation falls back to Norwegian rather than to a blank.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailer.i18n_admin import EN as _ADMIN_EN
from mailer.i18n_reader import EN as _READER_EN

LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"
LOCAL_ZONE = ZoneInfo("Europe/Oslo")

EN: dict[str, str] = {
    "Meld deg på vårt nyhetsbrev": "Subscribe to our newsletter",
    "E-postadresse": "Email address",
    "Navn": "Name",
    "Språk": "Language",
    "Temaer": "Topics",
    "Meld meg på": "Subscribe",
    "Ja, send meg nyhetsbrevet. Jeg kan melde meg av når som helst.": (
        "Yes, send me the newsletter. I can unsubscribe at any time."
    ),
    "Sjekk e-posten din": "Check your email",
    "Hvis adressen kan motta nyhetsbrevet, har vi sendt en lenke for å bekrefte påmeldingen.": (
        "If the address can receive the newsletter, we have sent a link to confirm the signup."
    ),
    "Bekreft påmeldingen": "Confirm your subscription",
    "Bekreft": "Confirm",
    "Trykk på knappen for å bekrefte at du vil motta nyhetsbrevet.": (
        "Press the button to confirm that you want to receive the newsletter."
    ),
    "Takk! Du er nå påmeldt.": "Thank you! You are now subscribed.",
    "Meld deg av": "Unsubscribe",
    "Trykk på knappen for å melde deg av nyhetsbrevet.": (
        "Press the button to unsubscribe from the newsletter."
    ),
    "Du er nå meldt av. Du får ikke flere nyhetsbrev fra oss.": (
        "You are now unsubscribed. You will get no more newsletters from us."
    ),
    "Ugyldig lenke": "Invalid link",
    "Lenken er ikke gyldig. Kopier hele lenken fra e-posten.": (
        "This link is not valid. Copy the whole link from the email."
    ),
    "Lenken har utløpt": "The link has expired",
    "Lenken har utløpt. Meld deg på igjen for å få en ny lenke.": (
        "The link has expired. Sign up again to get a new link."
    ),
    "Noe er feil i skjemaet": "Something in the form is wrong",
    "Skriv inn en e-postadresse.": "Enter an email address.",
    "E-postadressen er ikke gyldig": "The email address is not valid",
    "Du må krysse av for samtykke.": "You must tick the consent box.",
    "Navnet kan ikke inneholde linjeskift eller kontrolltegn.": (
        "The name cannot contain line breaks or control characters."
    ),
    "Navnet er for langt (høyst 200 tegn).": "The name is too long (at most 200 characters).",
    "Ukjent språk.": "Unknown language.",
    "Ukjent tema": "Unknown topic",
    "Må være tekst.": "Must be text.",
    "Forespørselen er nestet for dypt (JSON).": "The request is nested too deeply (JSON).",
    "Feltet kan ikke inneholde NUL-tegn (\\u0000).": (
        "The field cannot contain NUL characters (\\u0000)."
    ),
    "Temaer må være en liste med tekster.": "Topics must be a list of texts.",
    "Skjemaet er utløpt eller ugyldig. Last siden på nytt og prøv igjen.": (
        "The form has expired or is invalid. Reload the page and try again."
    ),
    "Les mer": "Read more",
    "Arkiv": "Archive",
    "Tidligere nyhetsbrev": "Past newsletters",
    "Du får denne e-posten fordi du har meldt deg på nyhetsbrevet.": (
        "You get this email because you subscribed to the newsletter."
    ),
    "Meld deg av nyhetsbrevet": "Unsubscribe from the newsletter",
    "Endre innstillinger": "Change your preferences",
    "Lagret.": "Saved.",
    "Lagre": "Save",
    "Velg ingen for å få alt.": "Choose none to get everything.",
    "Ingen nyhetsbrev er sendt ennå.": "No newsletter has been sent yet.",
    "Les nyhetsbrevet i nettleseren": "Read the newsletter in your browser",
    "Hei": "Hello",
    "Nyhetsbrev": "Newsletter",
    "Bekreft påmeldingen til": "Confirm your subscription to",
    "Noen, forhåpentligvis du, meldte denne adressen på nyhetsbrevet.": (
        "Someone, hopefully you, signed this address up for the newsletter."
    ),
    "Bekreft ved å åpne lenken:": "Confirm by opening the link:",
    "Lenken virker i 7 dager. Var det ikke deg, kan du se bort fra denne e-posten.": (
        "The link works for 7 days. If it was not you, you can ignore this email."
    ),
    "Siden finnes ikke": "Page not found",
    "For mange forespørsler": "Too many requests",
    "Noe gikk galt hos oss. Prøv igjen om litt.": (
        "Something went wrong on our side. Try again shortly."
    ),
    "Utboks (utvikling)": "Outbox (development)",
    "Ingen e-post ennå.": "No mail yet.",
}

# Catalogues for the reader pages and the admin live in their own modules, one per area.
EN.update(_READER_EN)
EN.update(_ADMIN_EN)

MONTHS = {
    "nb": [
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def normalise_language(value: str | None) -> str:
    value = (value or "").strip().lower()
    if value in ("no", "nn", "nb-no", "no-nb"):
        return "nb"
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def gettext(text: str, language: str) -> str:
    return EN.get(text, text) if language == "en" else text


def format_date(value: datetime, language: str) -> str:
    local = value.astimezone(LOCAL_ZONE)
    month = MONTHS[language if language in MONTHS else DEFAULT_LANGUAGE][local.month - 1]
    if language == "en":
        return f"{local.day} {month} {local.year}"
    return f"{local.day}. {month} {local.year}"


def month_name(value: datetime, language: str) -> str:
    local = value.astimezone(LOCAL_ZONE)
    return MONTHS[language if language in MONTHS else DEFAULT_LANGUAGE][local.month - 1]
