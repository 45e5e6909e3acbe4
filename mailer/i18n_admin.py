"""English for the editor admin (Norwegian is the key)."""

EN: dict[str, str] = {
    # Frame and navigation
    "Nyhetsbrev – redaksjon": "Newsletter – editors",
    "Hovedmeny": "Main menu",
    "Oversikt": "Dashboard",
    "Utsendelser": "Issues",
    "Abonnenter": "Subscribers",
    "Artikler": "Articles",
    "Strømmer": "Feeds",
    "Redaktører": "Editors",
    "Logg": "Audit log",
    "Konto": "Account",
    "Logg inn": "Log in",
    "Logg ut": "Log out",
    "Passord": "Password",
    "Noe må rettes:": "Please correct this:",
    "Til oversikten": "To the dashboard",
    "Forrige": "Previous",
    "Neste": "Next",
    "Side": "Page",
    "Sider": "Pages",
    "Alle": "All",
    "Nei, tilbake": "No, go back",
    "Endre": "Change",
    "Fjern": "Remove",
    "Legg til": "Add",
    "Kryss av for å bekrefte.": "Tick the box to confirm.",
    "Du har ikke tilgang til denne siden. Den er bare for administratorer.": (
        "You do not have access to this page. It is for administrators only."
    ),
    # Login
    "Feil e-postadresse eller passord.": "Wrong email address or password.",
    "For mange forsøk. Vent litt og prøv igjen senere.": (
        "Too many attempts. Wait a while and try again later."
    ),
    # Dashboard
    "Påmeldinger, bekreftelser og avmeldinger per måned": (
        "Signups, confirmations and unsubscribes per month"
    ),
    "Påmeldinger": "Signups",
    "Bekreftelser": "Confirmations",
    "Avmeldinger": "Unsubscribes",
    "Tallene i tabell": "The numbers as a table",
    "Måned": "Month",
    "Siste utsendelser": "Latest issues",
    "Ingen utsendelser ennå.": "No issues yet.",
    "Lag et utkast": "Draft one",
    "Resultat": "Outcome",
    # Issue states, delivery states, subscription states
    "Utkast": "Draft",
    "Planlagt": "Scheduled",
    "Sendes": "Sending",
    "På pause": "Paused",
    "Sendt": "Sent",
    "Avbrutt": "Cancelled",
    "I kø": "Queued",
    "Sendes nå": "Sending now",
    "Feilet": "Failed",
    "Avvist": "Bounced",
    "Usikker": "In doubt",
    "Hoppet over": "Skipped",
    "Venter på bekreftelse": "Awaiting confirmation",
    "Aktiv": "Active",
    "Avmeldt": "Unsubscribed",
    "Avvist (bounce)": "Bounced",
    "Klaget": "Complained",
    "Påmelding": "Signup",
    "Avmelding": "Unsubscribe",
    "Nye innstillinger": "New preferences",
    # Field names
    "Emne": "Subject",
    "Innledning": "Intro",
    "Artikkel": "Article",
    "Status": "Status",
    "Tidspunkt": "Time",
    "Abonnent": "Subscriber",
    "Mottaker": "Recipient",
    "Fil": "File",
    "Kolonner": "Columns",
    "Opplasting": "Upload",
    "Bekreftelse": "Confirmation",
    "Samtykke": "Consent",
    "Adresse": "Address",
    "Rolle": "Role",
    "Søk": "Search",
    "Tema": "Topic",
    "Redaktør": "Editor",
    # Issues list and issue page
    "Lag utkast fra nye artikler": "Draft an issue from new articles",
    "Laget": "Created",
    "Nytt utkast laget.": "New draft created.",
    "Ingen nye artikler å lage et nummer av.": "There are no new articles to make an issue from.",
    "aktive abonnenter": "active subscribers",
    "Utsendelse": "Sending",
    "av": "of",
    "behandlet": "done",
    "Fart": "Rate",
    "per sekund": "per second",
    "Ferdig om": "Done in",
    "sekunder": "seconds",
    "Grunn til pausen:": "Reason for the pause:",
    "Utsendelsen er ferdig.": "The send has finished.",
    "Utsendelsen står på pause.": "The send is paused.",
    "Utsendelsen er stoppet.": "The send has stopped.",
    "Går til alle aktive abonnenter. Nå er det": "Goes to every active subscriber. Right now:",
    "Ja, send den da til de aktive abonnentene (nå %(count)s).": (
        "Yes, send it then to the active subscribers (%(count)s now)."
    ),
    "Vis resultatet": "Show the outcome",
    "Oppdater": "Refresh",
    "Pause": "Pause",
    "Fortsett": "Resume",
    "Ja, avbryt utsendelsen for godt. Det som er sendt, er sendt.": (
        "Yes, cancel the send for good. What has been sent stays sent."
    ),
    "Avbryt utsendelsen": "Cancel the send",
    "Forbindelsen brøt under sendingen, så vi vet ikke om e-posten kom fram. "
    "Sender du på nytt, kan noen få to eksemplarer.": (
        "The connection broke while sending, so we do not know whether the mail arrived. "
        "If you send again, some readers may get two copies."
    ),
    "Venter på gjenoppretting av %(rows)s rader fra en stoppet arbeider "
    "(neste sjekk kl. %(time)s).": (
        "Waiting for recovery of %(rows)s rows from a stopped worker (next check at %(time)s)."
    ),
    "Kan ha kommet fram": "May have arrived",
    "Ja: innholdet ble sendt, men svaret uteble": "Yes: the content was sent, but no answer came",
    "Ukjent: journalen gikk tapt, kanskje aldri forsøkt": (
        "Unknown: the journal was lost; perhaps never tried"
    ),
    "Forsøk": "Attempts",
    "Siste feil": "Last error",
    "Ja, send disse på nytt.": "Yes, send these again.",
    "Send på nytt": "Resend",
    "Emne og innledning": "Subject and intro",
    "Markdown: **fet**, *kursiv*, [lenke](https://…), tom linje for nytt avsnitt": (
        "Markdown: **bold**, *italic*, [link](https://…), a blank line for a new paragraph"
    ),
    "Slik blir innledningen:": "The intro will look like this:",
    "Flytt opp": "Move up",
    "Flytt ned": "Move down",
    "Legg til en nylig artikkel": "Add a recent article",
    "Forhåndsvis og test": "Preview and test",
    "Vis slik denne abonnenten får den": "Show it as this subscriber gets it",
    "Forhåndsvis": "Preview",
    "Send en test til": "Send a test to",
    "Send test": "Send test",
    "Send": "Send",
    "Send nå …": "Send now …",
    "Eller planlegg utsendelsen (norsk tid)": "Or schedule the send (Norwegian time)",
    "Planlegg": "Schedule",
    "Ta tilbake til utkast": "Back to draft",
    "Lagret.": "Saved.",
    "Utsendelsen har startet.": "Sending has started.",
    "Utsendelsen er planlagt.": "The send is scheduled.",
    "Testen kunne ikke sendes:": "The test could not be sent:",
    "Testen er sendt til": "The test was sent to",
    "e-poster lagt i kø igjen.": "mails queued again.",
    "Dette kan ikke gjøres med nummeret nå. Status:": (
        "This cannot be done with the issue now. Status:"
    ),
    "Denne abonnenten ville ikke fått noe: ingen av sakene er i temaene sine.": (
        "This subscriber would get nothing: none of the articles is in their topics."
    ),
    "Adressen er ikke abonnent på nyhetsbrevet.": "The address is not a subscriber.",
    # Send confirmation and preview
    "Send nå": "Send now",
    "Send «%(subject)s» til %(count)s abonnenter?": (
        "Send «%(subject)s» to %(count)s subscribers?"
    ),
    "Det kan ikke angres. Du kan sette utsendelsen på pause eller avbryte den underveis.": (
        "This cannot be undone. You can pause or cancel the send while it runs."
    ),
    "Ja, send til %(count)s abonnenter": "Yes, send to %(count)s subscribers",
    "Forhåndsvisning": "Preview",
    "Nøyaktig slik": "Exactly as",
    "får den (navn, språk, temaer og personlige lenker).": (
        "gets it (name, language, topics and personal links)."
    ),
    "E-posten som HTML": "The mail as HTML",
    "Åpne HTML-versjonen alene": "Open the HTML version on its own",
    "Tekst": "Text",
    "Hoder": "Headers",
    # Issue editing errors
    "Bare et utkast eller et planlagt nummer kan endres.": (
        "Only a draft or a scheduled issue can be changed."
    ),
    "Emnet kan ikke være tomt.": "The subject cannot be empty.",
    "Emnet er for langt (høyst 300 tegn).": "The subject is too long (at most 300 characters).",
    "Emnet kan ikke inneholde linjeskift eller kontrolltegn.": (
        "The subject cannot contain line breaks or control characters."
    ),
    "Innledningen er for lang (høyst 10 000 tegn).": (
        "The intro is too long (at most 10,000 characters)."
    ),
    "Innledningen inneholder kontrolltegn.": "The intro contains control characters.",
    "Ukjent artikkel.": "Unknown article.",
    "Artikkelen er skjult og kan ikke legges til.": "The article is hidden and cannot be added.",
    "Artikkelen er allerede med i nummeret.": "The article is already in the issue.",
    "Artikkelen er ikke med i nummeret.": "The article is not in the issue.",
    "Et nummer må ha minst én artikkel.": "An issue needs at least one article.",
    "Et nummer kan ha høyst 60 artikler.": "An issue can have at most 60 articles.",
    "Den samme artikkelen står to ganger.": "The same article is listed twice.",
    "Skriv tidspunktet som dato og klokkeslett, for eksempel 2026-12-01 09:00.": (
        "Give the time as a date and a time of day, for example 2026-12-01 09:00."
    ),
    "Tidspunktet har alt vært.": "That time has already passed.",
    "Tidspunktet er mer enn ett år fram i tid.": "That time is more than a year ahead.",
    "Bare et utkast eller et planlagt nummer kan planlegges.": (
        "Only a draft or a scheduled issue can be scheduled."
    ),
    # Subscribers
    "Importer fra CSV": "Import from CSV",
    "Eksporter alle som CSV": "Export all as CSV",
    "Søk på e-post eller navn": "Search by email or name",
    "treff": "found",
    "Påmeldt": "Signed up",
    "Ingen abonnenter passer søket.": "No subscriber matches the search.",
    "Ukjent status.": "Unknown status.",
    "Søket er for langt (høyst 200 tegn).": "The search is too long (at most 200 characters).",
    "Sidetallet må være et helt tall fra 1.": "The page must be a whole number from 1.",
    "Registrert": "Registered",
    "Sperret": "Suppressed",
    "Bekreftet": "Confirmed",
    "Meldt av": "Unsubscribed",
    "Når": "When",
    "Hva": "What",
    "Kanal": "Channel",
    "Tekst vist": "Text shown",
    "IP / kilde": "IP / source",
    "Utsendelser til denne abonnenten": "Issues sent to this subscriber",
    "Nummer": "Issue",
    "Hendelser": "Events",
    "Handlinger": "Actions",
    "Meld av": "Unsubscribe",
    "Sperr adressen": "Suppress the address",
    "Slett alt om abonnenten (GDPR) …": "Erase everything about the subscriber (GDPR) …",
    "Meld av: får ingen flere utsendelser, men kan melde seg på igjen. Sperr: vi sender "
    "aldri mer til adressen. Slett: alle opplysninger fjernes; bare en nøkkel-hash av "
    "adressen blir stående på sperrelisten.": (
        "Unsubscribe: no more issues, but they can sign up again. Suppress: we never mail "
        "the address again. Erase: all data is deleted; only a keyed hash of the address "
        "stays on the suppression list."
    ),
    "Abonnenten er meldt av.": "The subscriber has been unsubscribed.",
    "Adressen er sperret og får aldri mer e-post fra oss.": (
        "The address is suppressed and will never get mail from us again."
    ),
    "Slett abonnent": "Erase subscriber",
    "Dette sletter for godt alt vi vet om": "This permanently deletes everything we know about",
    "navn, påmeldinger, samtykker og utsendelser. Bare en nøkkel-hash av adressen blir "
    "stående, slik at den aldri blir importert igjen.": (
        "name, subscriptions, consent records and deliveries. Only a keyed hash of the "
        "address stays, so that it is never imported again."
    ),
    "Ja, slett alt om denne abonnenten.": "Yes, erase everything about this subscriber.",
    "Slett for godt": "Erase for good",
    "Abonnenten er slettet. Bare en nøkkel-hash står igjen på sperrelisten.": (
        "The subscriber has been erased. Only a keyed hash remains on the suppression list."
    ),
    # CSV import
    "Importer abonnenter": "Import subscribers",
    "Import": "Import",
    "Last opp en CSV-fil (UTF-8, høyst 5 MB) der første linje navngir kolonnene. Du ser "
    "de første radene og velger kolonner før noe blir importert.": (
        "Upload a CSV file (UTF-8, at most 5 MB) whose first line names the columns. You "
        "see the first rows and choose the columns before anything is imported."
    ),
    "CSV-fil": "CSV file",
    "Last opp og se over": "Upload and review",
    "Velg en fil.": "Choose a file.",
    "Se over importen": "Review the import",
    "rader": "rows",
    "De første radene:": "The first rows:",
    "(ingen)": "(none)",
    "Send bekreftelse: hver mottaker får en e-post og blir med først når de bekrefter.": (
        "Send confirmation: each recipient gets an email and joins only once they confirm."
    ),
    "Har alt samtykket: de blir aktive med en gang. Kilden (filen og deg) lagres som samtykke.": (
        "Already consented: they become active at once. The source (the file and you) is "
        "recorded as their consent."
    ),
    "Adresser som står to ganger, blir importert én gang. Adresser på sperrelisten og "
    "tidligere avmeldte blir ikke importert.": (
        "An address listed twice is imported once. Suppressed addresses and readers who "
        "unsubscribed before are not imported."
    ),
    "Importer": "Import",
    "Import ferdig": "Import finished",
    "importert": "imported",
    "fantes fra før": "already there",
    "med feil": "with errors",
    "dubletter": "duplicates",
    "sperret eller tidligere avmeldt": "suppressed or unsubscribed before",
    "mottakere får en e-post for å bekrefte.": "recipients get an email to confirm.",
    "Rader med feil (ikke importert)": "Rows with errors (not imported)",
    "Linje": "Line",
    "linje": "line",
    "Dubletter (importert én gang)": "Duplicates (imported once)",
    "Ikke importert": "Not imported",
    "på sperrelisten": "on the suppression list",
    "har meldt seg av tidligere": "unsubscribed before",
    "Til abonnentene": "To the subscribers",
    "Filen er ikke UTF-8. Lagre den som «CSV UTF-8» og prøv igjen.": (
        "The file is not UTF-8. Save it as «CSV UTF-8» and try again."
    ),
    "Filen er tom.": "The file is empty.",
    "Filen er for stor (høyst 5 MB).": "The file is too large (at most 5 MB).",
    "Filen er ikke en CSV-tekstfil.": "The file is not a CSV text file.",
    "Første linje må navngi kolonnene.": "The first line must name the columns.",
    "Ingen kolonne ser ut til å inneholde e-postadresser.": (
        "No column seems to hold email addresses."
    ),
    "Ukjent kolonne.": "Unknown column.",
    "Velg kolonnen med e-postadresser.": "Choose the column with the email addresses.",
    "Samme kolonne er valgt for flere felt.": "The same column is chosen for several fields.",
    "Filen kan ikke leses som CSV.": "The file cannot be read as CSV.",
    "Opplastingen er utløpt. Last opp filen på nytt.": (
        "The upload has expired. Upload the file again."
    ),
    "Velg om mottakerne skal bekrefte selv, eller om de alt har samtykket.": (
        "Choose whether the recipients confirm themselves or have consented already."
    ),
    # Articles and feeds
    "En skjult artikkel kommer aldri med i et nytt utkast.": (
        "A hidden article is never drafted into a new issue."
    ),
    "Tittel": "Title",
    "Publisert": "Published",
    "Kilde": "Source",
    "Skjult": "Hidden",
    "Vis": "Show",
    "Skjul": "Hide",
    "Ingen artikler ennå. Legg inn en strøm.": "No articles yet. Add a feed.",
    "RSS- eller Atom-strømmene artiklene hentes fra. De hentes automatisk hver time.": (
        "The RSS or Atom feeds the articles come from. They are fetched every hour."
    ),
    "Sist hentet": "Last fetched",
    "Hent nå": "Fetch now",
    "Ingen strømmer ennå.": "No feeds yet.",
    "Legg til en strøm": "Add a feed",
    "Strømmen er lagt til.": "The feed has been added.",
    "Strømmen er fjernet. Artiklene den hentet, er beholdt.": (
        "The feed has been removed. The articles it brought are kept."
    ),
    "Strømmen kunne ikke hentes:": "The feed could not be fetched:",
    "Ingen endringer siden forrige henting.": "No changes since the last fetch.",
    "nye": "new",
    "oppdaterte": "updated",
    "uendrede": "unchanged",
    "Skriv en fullstendig adresse som begynner med http:// eller https://.": (
        "Enter a full address starting with http:// or https://."
    ),
    "Adressen er for lang.": "The address is too long.",
    "Denne strømmen er allerede lagt inn.": "This feed is already registered.",
    "Denne adressen er på et privat nett, og strømmer hentes ikke derfra.": (
        "This address is on a private network; feeds are not fetched from there."
    ),
    "hoppet over": "skipped",
    # Editors, account, audit
    "Administrator": "Administrator",
    "Administratorer styrer redaktørkontoer. Redaktører lager og sender utsendelser og "
    "passer på abonnentene.": (
        "Administrators manage editor accounts. Editors make and send issues and look after "
        "the subscribers."
    ),
    "Opprettet": "Created",
    "Ny redaktør": "New editor",
    "Passord (minst 10 tegn)": "Password (at least 10 characters)",
    "Opprett": "Create",
    "Redaktøren er opprettet:": "The editor has been created:",
    "Passordet må ha minst 10 tegn.": "The password must have at least 10 characters.",
    "Det finnes allerede en redaktør med denne adressen.": (
        "There is already an editor with this address."
    ),
    "Ukjent rolle.": "Unknown role.",
    "Det må finnes minst én administrator.": "There must be at least one administrator.",
    "API-nøkler": "API tokens",
    "Du har": "You have",
    "API-nøkler. En ny nøkkel vises bare én gang.": "API tokens. A new token is shown only once.",
    "Ny nøkkel:": "New token:",
    "Lag ny API-nøkkel": "Create a new API token",
    "Hvem gjorde hva, og når: endringer i redaksjonen og via API-et.": (
        "Who did what, and when: changes made in the admin and through the API."
    ),
    "Hvem": "Who",
    "Detaljer": "Details",
    # Newsletter settings
    "Innstillinger": "Settings",
    "Innstillinger for nyhetsbrevet": "Newsletter settings",
    "Standardspråk": "Default language",
    "Språket nye utsendelser lages på.": "The language new issues are drafted in.",
    "Ett tema per linje, høyst 60 tegn hvert og høyst": (
        "One topic a line, at most 60 characters each and at most"
    ),
    "Leserne velger blant dem når de melder seg på. Fjerner du et tema, beholder abonnentene "
    "som har valgt det, valget sitt.": (
        "Readers pick among them when they sign up. If you remove a topic, the subscribers "
        "who chose it keep their choice."
    ),
    "Temaene kommer nå fra oppsettet (MAILER_TOPICS). Når du lagrer, gjelder listen her.": (
        "The topics come from the configuration (MAILER_TOPICS) for now. Once you save, the "
        "list here applies."
    ),
    "Innstillingene er lagret.": "The settings have been saved.",
    "Navnet kan ikke være tomt.": "The name cannot be empty.",
    "Navnet er for langt (høyst 200 tegn).": "The name is too long (at most 200 characters).",
    "Velg norsk (nb) eller engelsk (en).": "Choose Norwegian (nb) or English (en).",
    "Temaene må være en liste med tekster.": "The topics must be a list of texts.",
    "Et tema kan ikke være tomt.": "A topic cannot be empty.",
    "Et tema kan ha høyst 60 tegn": "A topic can have at most 60 characters",
    "Et tema kan ikke inneholde kontrolltegn": "A topic cannot contain control characters",
    "Et tema kan ikke inneholde semikolon (det skiller temaene i CSV-filer)": (
        "A topic cannot contain a semicolon (it separates the topics in CSV files)"
    ),
    "Det samme temaet står to ganger": "The same topic appears twice",
    "Høyst 30 temaer.": "At most 30 topics.",
    "Skriv minst ett tema. En tom liste ville gi tilbake standardtemaene fra oppsettet.": (
        "Enter at least one topic. An empty list would bring back the default topics from the "
        "configuration."
    ),
    # Changing one's password
    "Bytt passord": "Change password",
    "Nåværende passord": "Current password",
    "Nytt passord": "New password",
    "Gjenta nytt passord": "Repeat new password",
    "Nytt passord (minst 10 tegn)": "New password (at least 10 characters)",
    "Gjenta det nye passordet": "Repeat the new password",
    "Når passordet er byttet, blir du logget ut andre steder der du er logget inn.": (
        "Once the password is changed, you are logged out wherever else you are logged in."
    ),
    "Passordet er endret. Andre innlogginger med det gamle passordet er logget ut.": (
        "The password has been changed. Other sessions with the old password have been logged out."
    ),
    "Passordet stemmer ikke.": "The password is not correct.",
    "De to nye passordene er ikke like.": "The two new passwords do not match.",
    "Det nye passordet må være et annet enn det du har nå.": (
        "The new password must differ from the one you have now."
    ),
    # Sessions, disabled accounts, API tokens
    "Kontoen er deaktivert. Spør en administrator om å aktivere den igjen.": (
        "The account is disabled. Ask an administrator to enable it again."
    ),
    "Det må finnes minst én aktiv administrator.": (
        "There must be at least one active administrator."
    ),
    "Du kan ikke deaktivere din egen konto.": "You cannot disable your own account.",
    "Alle innlogginger er avsluttet for": "All sessions have been ended for",
    "Kontoen er deaktivert:": "The account has been disabled:",
    "Kontoen er aktivert igjen:": "The account has been enabled again:",
    "Velg en av varighetene i listen.": "Choose one of the durations in the list.",
    "API-nøkkelen er trukket tilbake.": "The API token has been revoked.",
    "Nøkkel": "Token",
    "Sist brukt": "Last used",
    "Utløper": "Expires",
    "Handling": "Action",
    "Aldri": "Never",
    "Utløpt": "Expired",
    "Trekk tilbake": "Revoke",
    "Trekk tilbake nøkkel": "Revoke token",
    "Ingen API-nøkler.": "No API tokens.",
    "Innlogginger": "Sessions",
    "Logger deg ut overalt der du er logget inn, også her. En kopi av innloggingen virker ikke "
    "lenger.": (
        "Logs you out wherever you are logged in, here too. A copy of the session no longer works."
    ),
    "Avslutt alle innlogginger": "End all sessions",
    "Avslutt innlogginger": "End sessions",
    "Gyldig": "Valid",
    "til den trekkes tilbake": "until revoked",
    "dager": "days",
    "Alle redaktørers nøkler til JSON-API-et. Når en konto deaktiveres, trekkes nøklene tilbake.": (
        "Every editor's tokens for the JSON API. When an account is disabled, its tokens are "
        "revoked."
    ),
    "Deaktivert": "Disabled",
    "Deaktiver": "Disable",
    "Aktiver": "Enable",
    "En deaktivert redaktør kan ikke logge inn, og alle API-nøklene til redaktøren er trukket "
    "tilbake.": (
        "A disabled editor cannot log in, and all of the editor's API tokens have been revoked."
    ),
    "Alle API-nøkler": "All API tokens",
}
