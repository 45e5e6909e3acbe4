"""An issue's preview (exactly what one reader would get) and test send, in the admin."""

from __future__ import annotations

import email
import email.policy

from flask import Response, flash, redirect, request, url_for

from mailer.errors import ValidationFailed
from mailer.i18n import LANGUAGES
from mailer.issues import editing as issue_editing
from mailer.issues.drafting import issue_subject
from mailer.issues.previews import NothingToPreview, preview_for, send_test
from mailer.mail.messages import Outgoing
from mailer.mail.smtp import SMTPFailure
from mailer.runtime import runtime
from mailer.web.admin.base import audit, bp, current_editor, language, page, t
from mailer.web.admin.issues import issue_or_404, issue_page


def _preview(issue_id: int, address: str) -> Outgoing:
    rt = runtime()
    with rt.db.session() as session:
        issue_or_404(session, issue_id)
        return preview_for(session, rt.settings, rt.tokens, issue_id, address)


def _preview_error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, NothingToPreview):
        return {"as": t("Denne abonnenten ville ikke fått noe: ingen av sakene er i temaene sine.")}
    assert isinstance(exc, ValidationFailed)
    if "as" in exc.errors:
        return {"as": t("Adressen er ikke abonnent på nyhetsbrevet.")}
    return {"as": t("E-postadressen er ikke gyldig")}


@bp.get("/issues/<int:issue_id>/preview")
def preview(issue_id: int):
    address = request.args.get("as", "").strip()
    if not address:
        return issue_page(issue_id, 400, {"as": t("Skriv inn en e-postadresse.")})
    try:
        message = _preview(issue_id, address)
    except (ValidationFailed, NothingToPreview) as exc:
        return issue_page(issue_id, 400, _preview_error(exc), preview_as=address[:320])
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    headers, _, _ = message.data.partition(b"\r\n\r\n")
    parts = {
        p.get_content_type(): str(p.get_content()) for p in parsed.walk() if not p.is_multipart()
    }
    with runtime().db.session() as session:
        subject = issue_subject(issue_or_404(session, issue_id), language())
    return page(
        "preview.html",
        issue_id=issue_id,
        subject=subject,
        address=address,
        decoded_subject=str(parsed["Subject"]),
        headers=headers.decode("ascii", "replace"),
        text=parts.get("text/plain", ""),
        # Shown in a sandboxed srcdoc frame: it inherits this page's CSP and is never a
        # framed URL, so frame-ancestors 'none' on every page does not get in the way.
        html=parts.get("text/html", ""),
        recipient=message.recipient,
    )


@bp.get("/issues/<int:issue_id>/preview.html")
def preview_html(issue_id: int):
    try:
        message = _preview(issue_id, request.args.get("as", ""))
    except (ValidationFailed, NothingToPreview) as exc:
        return Response(next(iter(_preview_error(exc).values())), 400, mimetype="text/plain")
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    html = next(
        (str(p.get_content()) for p in parsed.walk() if p.get_content_type() == "text/html"), ""
    )
    return Response(html, mimetype="text/html")


@bp.post("/issues/<int:issue_id>/test")
def test_send(issue_id: int):
    rt = runtime()
    to = request.form.get("to", "").strip() or current_editor().email
    chosen = request.form.get("language") or None
    if chosen is not None and chosen not in LANGUAGES:
        return issue_page(issue_id, 400, {"language": "Ukjent språk."})
    with rt.db.session() as session:
        issue_or_404(session, issue_id)
        try:
            message = send_test(session, rt.settings, rt.tokens, issue_id, to, chosen)
        except ValidationFailed:
            return issue_page(issue_id, 400, {"to": "E-postadressen er ikke gyldig"}, test_to=to)
        except NothingToPreview:
            return issue_page(issue_id, 400, {"article_ids": issue_editing.NO_ARTICLES})
        except SMTPFailure as exc:
            message_text = t("Testen kunne ikke sendes:") + f" {exc}"
            return issue_page(issue_id, 502, {"to": message_text}, test_to=to)
        audit(session, "test_send", issue_id=issue_id, data={"to": message.recipient})
        session.commit()
    flash(t("Testen er sendt til") + f" {message.recipient}.", "ok")
    return redirect(url_for("admin.issue", issue_id=issue_id))
