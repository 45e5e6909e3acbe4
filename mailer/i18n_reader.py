"""English for the reader pages added beyond the core catalogue (Norwegian is the key)."""

EN: dict[str, str] = {
    # Signup, consent and abuse protection
    "Samtykketeksten er endret. Last siden på nytt og prøv igjen.": (
        "The consent text has changed. Reload the page and try again."
    ),
    "La dette feltet stå tomt": "Leave this field empty",
    "Påmelding til nyhetsbrevet": "Newsletter signup",
    "Du har sendt mange forespørsler på kort tid. Vent litt og prøv igjen.": (
        "You have sent many requests in a short time. Wait a little and try again."
    ),
    # Confirmation links
    "Bekreftelseslenken virker i 7 dager, og denne er eldre. Vi kan sende deg en ny.": (
        "The confirmation link works for 7 days, and this one is older. We can send you a new one."
    ),
    "Send meg en ny lenke": "Send me a new link",
    "Hvis påmeldingen fortsatt venter på bekreftelse, har vi sendt en ny lenke. "
    "Vi sender høyst én i timen.": (
        "If the signup is still waiting for confirmation, we have sent a new link. "
        "We send at most one an hour."
    ),
    "Ombestemt deg? Her kan du slette det vi har lagret om deg:": (
        "Changed your mind? Here you can delete what we hold about you:"
    ),
    # Unsubscribe and preferences
    "Vil du heller få færre e-poster? Velg temaer eller språk i innstillingene.": (
        "Would you rather get fewer emails? Choose topics or language in your preferences."
    ),
    "Ombestemt deg? Du kan melde deg på igjen når du vil.": (
        "Changed your mind? You can sign up again whenever you like."
    ),
    "I innstillingene kan du også be om en kopi av dataene dine eller slette dem.": (
        "In your preferences you can also ask for a copy of your data or delete it."
    ),
    "Du er påmeldt nyhetsbrevet.": "You are subscribed to the newsletter.",
    "Påmeldingen din venter på bekreftelse. Bruk lenken i e-posten vi sendte.": (
        "Your signup is waiting for confirmation. Use the link in the email we sent."
    ),
    "Du er ikke påmeldt nyhetsbrevet nå.": "You are not subscribed to the newsletter now.",
    "Meld deg på igjen": "Sign up again",
    # Your data: export and erasure
    "Dataene dine": "Your data",
    "Få en kopi av alt vi har lagret om deg, eller slett alt.": (
        "Get a copy of everything we hold about you, or delete it all."
    ),
    "Send meg dataene mine": "Send me my data",
    "Vi har sendt en lenke til e-postadressen din. Der kan du laste ned alt vi har lagret "
    "om deg. Lenken virker i 7 dager.": (
        "We have sent a link to your email address. There you can download everything we "
        "hold about you. The link works for 7 days."
    ),
    "Tilbake til innstillingene": "Back to your preferences",
    "Nedlastingslenken virker i 7 dager. Be om en ny fra innstillingene dine.": (
        "The download link works for 7 days. Ask for a new one from your preferences."
    ),
    "Dine data fra": "Your data from",
    "Du ba om en kopi av det vi har lagret om deg for nyhetsbrevet.": (
        "You asked for a copy of what we hold about you for the newsletter."
    ),
    "Last ned dataene dine (JSON):": "Download your data (JSON):",
    "Last ned dataene dine": "Download your data",
    "Lenken virker i 7 dager. Var det ikke deg som spurte, kan du se bort fra denne e-posten.": (
        "The link works for 7 days. If you did not ask for it, you can ignore this email."
    ),
    "Slett meg": "Delete me",
    "Slette alt vi har lagret om deg?": "Delete everything we hold about you?",
    "Vi sletter navnet ditt, e-postadressen, påmeldingene, samtykkene og utsendelsesloggen. "
    "Det kan ikke angres.": (
        "We delete your name, email address, subscriptions, consents and delivery log. "
        "This cannot be undone."
    ),
    "Vi beholder bare et kryptografisk fingeravtrykk av adressen, så vi aldri sender deg "
    "e-post igjen – med mindre du selv melder deg på på nytt.": (
        "We keep only a cryptographic fingerprint of the address, so that we never email "
        "you again – unless you sign up anew yourself."
    ),
    "Ja, slett meg": "Yes, delete me",
    "Nei, tilbake til innstillingene": "No, back to my preferences",
    "Slettet": "Deleted",
    "Alt vi hadde lagret om deg, er slettet.": "Everything we held about you has been deleted.",
    "Du får ingen flere e-poster fra oss. Vil du ha nyhetsbrevet igjen senere, kan du melde "
    "deg på på nytt.": (
        "You will get no more emails from us. If you want the newsletter again later, you "
        "can sign up anew."
    ),
    # Embedding the form
    "Påmeldingsskjema på eget nettsted": "Signup form on your own website",
    "Lim inn HTML-koden under i publiseringsverktøyet (CMS). Skjemaet virker uten "
    "JavaScript: leseren sendes til takkesiden og får en e-post for å bekrefte "
    "påmeldingen.": (
        "Paste the HTML below into your publishing tool (CMS). The form works without "
        "JavaScript: the reader is taken to the thank-you page and gets an email to "
        "confirm the signup."
    ),
    "Tillatte nettsteder": "Allowed websites",
    "Ingen er satt opp ennå. Sett MAILER_ALLOWED_ORIGINS til nettstedets adresse, for "
    "eksempel https://www.example.no, og start tjenesten på nytt.": (
        "None are set up yet. Set MAILER_ALLOWED_ORIGINS to the website's address, for "
        "example https://www.example.no, and restart the service."
    ),
    "Skjemaet godtas bare fra disse nettstedene, og takkesiden (feltet next) må ligge på "
    "et av dem.": (
        "The form is accepted only from these websites, and the thank-you page (the next "
        "field) must be on one of them."
    ),
    "Norsk": "Norwegian",
}
