"""A stored bounce report, as text: linked from the dashboard's unrecognised mail and from
a reader's events."""

from __future__ import annotations

from flask import abort

from mailer.bounces.stored import read_stored_report
from mailer.errors import NotFound
from mailer.i18n import N_
from mailer.runtime import runtime
from mailer.web.admin.base import bp, language, page

KINDS = {
    "hard": N_("Permanent avvist"),
    "soft": N_("Midlertidig avvist"),
    "policy": N_("Avvist på grunn av oss (5.7.x, blokkert)"),
    "complaint": N_("Klage på søppelpost"),
    "other": N_("Endrer ingenting"),
}
STATUSES = {
    "stored": N_("Venter på behandling"),
    "processed": N_("Behandlet"),
    "unrecognised": N_("Ukjent format"),
    "unmatched": N_("Fant ingen utsendelse den gjelder"),
}

# What the parser read from the report (its detail), in words.
DETAILS = {
    "status": N_("Statuskode"),
    "action": N_("Handling i rapporten"),
    "diagnostic": N_("Svar fra serveren"),
    "feedback_type": N_("Type klage"),
    "match": N_("Hvorfor ingen utsendelse ble funnet"),
}


@bp.get("/bounces/<int:report_id>")
def bounce_report(report_id: int):
    with runtime().db.session() as session:
        try:
            report = read_stored_report(session, report_id, language())
        except NotFound:
            abort(404)
    return page(
        "bounce_report.html", report=report, kinds=KINDS, statuses=STATUSES, details=DETAILS
    )
