"""Subscribers: search, one reader's page, unsubscribe / suppress / erase, CSV import and export."""

from __future__ import annotations

import io
from collections.abc import Iterator

from flask import (
    Response,
    abort,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from mailer.bounces.reactivation import reactivate_bounced
from mailer.csv_cells import SafeCsvWriter
from mailer.errors import NotFound, ValidationFailed
from mailer.i18n import N_
from mailer.issues.newsletter import current_topics, load_topics
from mailer.reports.stats import SUBSCRIPTION_STATES
from mailer.runtime import runtime
from mailer.subscribers import csv_files as subscriber_csv
from mailer.subscribers import csv_uploads, erasure
from mailer.subscribers import directory as subscriber_directory
from mailer.subscribers.models import Subscriber
from mailer.web.admin.base import audit, bp, current_editor, page, t, translated
from mailer.web.csrf import csrf
from mailer.web.request_info import request_context

# The upload route alone takes bodies this large (the app's limit stays small elsewhere).
UPLOAD_LIMIT = subscriber_csv.MAX_UPLOAD_BYTES + 64 * 1024
CONFIRM_BOX = N_("Kryss av for å bekrefte.")
EXPIRED = N_("Opplastingen er utløpt. Last opp filen på nytt.")


def _topics() -> tuple[str, ...]:
    rt = runtime()
    return load_topics(rt.db, rt.settings)


@bp.get("/subscribers")
def subscribers():
    args = {k: request.args.get(k, "") for k in ("q", "state", "topic", "page")}
    try:
        filters = subscriber_directory.parse_filters(args, _topics())
    except ValidationFailed as exc:
        filters, errors, status = subscriber_directory.Filters(), exc.errors, 400
    else:
        errors, status = {}, 200
    with runtime().db.session() as session:
        result = subscriber_directory.search(session, filters)
    return page(
        "subscribers.html",
        status,
        result=result,
        filters=filters,
        args=args,
        errors=translated(errors),
        states=SUBSCRIPTION_STATES,
        topics=_topics(),
    )


def _detail_page(subscriber_id: int, status: int = 200, errors: dict[str, str] | None = None):
    rt = runtime()
    with rt.db.session() as session:
        try:
            detail = subscriber_directory.detail(
                session, subscriber_id, current_editor().language, rt.settings.secret_keys
            )
        except subscriber_directory.SubscriberNotFound:
            abort(404)
        return page("subscriber.html", status, d=detail, errors=translated(errors or {}))


@bp.get("/subscribers/<int:subscriber_id>")
def subscriber(subscriber_id: int):
    return _detail_page(subscriber_id)


@bp.post("/subscribers/<int:subscriber_id>/unsubscribe")
def unsubscribe(subscriber_id: int):
    with runtime().db.session() as session:
        try:
            changed = subscriber_directory.unsubscribe_subscriber(
                session, subscriber_id, request_context("admin")
            )
        except subscriber_directory.SubscriberNotFound:
            abort(404)
        audit(session, "unsubscribe", data={"subscriber_id": subscriber_id, "changed": changed})
        session.commit()
    flash(t("Abonnenten er meldt av."), "ok")
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id))


@bp.post("/subscribers/<int:subscriber_id>/suppress")
def suppress(subscriber_id: int):
    rt = runtime()
    with rt.db.session() as session:
        try:
            subscriber_directory.suppress_subscriber(
                session, subscriber_id, rt.settings.secret_keys[0], request_context("admin")
            )
        except subscriber_directory.SubscriberNotFound:
            abort(404)
        audit(session, "suppress", data={"subscriber_id": subscriber_id})
        session.commit()
    flash(t("Adressen er sperret og får aldri mer e-post fra oss."), "ok")
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id))


@bp.post("/subscribers/<int:subscriber_id>/reactivate")
def reactivate(subscriber_id: int):
    rt = runtime()
    with rt.db.session() as session:
        try:
            count = reactivate_bounced(session, subscriber_id, rt.settings.secret_keys)
        except NotFound:
            abort(404)
        audit(session, "reactivate", data={"subscriber_id": subscriber_id, "changed": count})
        session.commit()
    if count:
        flash(t("Abonnenten er aktiv igjen og får neste utsendelse."), "ok")
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber_id))


@bp.get("/subscribers/<int:subscriber_id>/erase")
def erase_confirm(subscriber_id: int):
    with runtime().db.session() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            abort(404)
        return page("erase_confirm.html", subscriber=subscriber, errors={})


@bp.post("/subscribers/<int:subscriber_id>/erase")
def erase(subscriber_id: int):
    rt = runtime()
    if request.form.get("confirm") != "yes":
        return _detail_page(subscriber_id, 400, {"confirm": CONFIRM_BOX})
    with rt.db.session() as session:
        try:
            erasure.erase_subscriber(
                session,
                subscriber_id,
                rt.settings.secret_keys[0],
                request_context("admin"),
                var_dir=rt.settings.var_dir,
            )
        except erasure.SubscriberNotFound:
            abort(404)
        # No address in the audit either: only that this editor erased subscriber N.
        audit(session, "erase", data={"subscriber_id": subscriber_id})
        session.commit()
    rt.db.drop_deleted()
    flash(t("Abonnenten er slettet. Bare en nøkkel-hash står igjen på sperrelisten."), "ok")
    return redirect(url_for("admin.subscribers"))


# ---- CSV import: upload → preview with column mapping → confirm -------------------------


def _import_form(status: int = 200, errors: dict[str, str] | None = None):
    return page("import.html", status, errors=translated(errors or {}))


@bp.get("/subscribers/import")
def import_form():
    return _import_form()


@bp.post("/subscribers/import")
@csrf.exempt  # checked below, once the larger body limit for this route is in place
def import_upload():
    request.max_content_length = UPLOAD_LIMIT
    try:
        csrf.protect()
        upload = request.files.get("file")
        data = upload.read(subscriber_csv.MAX_UPLOAD_BYTES + 1) if upload else b""
    except RequestEntityTooLarge:
        return _import_form(413, {"file": subscriber_csv.TOO_LARGE})
    if upload is None or not upload.filename:
        return _import_form(400, {"file": N_("Velg en fil.")})
    try:
        text = subscriber_csv.decode_upload(data)
        preview = subscriber_csv.preview_csv(text)
    except ValidationFailed as exc:
        return _import_form(400, exc.errors)
    key = csv_uploads.stash(runtime().settings.var_dir, current_editor().id, text)
    return page(
        "import_preview.html",
        preview=preview,
        key=key,
        filename=_filename(upload.filename),
        fields=subscriber_csv.FIELDS,
        errors={},
    )


def _filename(raw: str) -> str:
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isprintable())[:120] or "upload.csv"


@bp.post("/subscribers/import/confirm")
def import_confirm():
    rt = runtime()
    editor = current_editor()
    key = request.form.get("key", "")
    filename = _filename(request.form.get("filename", ""))
    mode = request.form.get("mode", "")
    try:
        text = csv_uploads.load(rt.settings.var_dir, editor.id, key)
    except csv_uploads.UploadExpired:
        return _import_form(400, {"upload": EXPIRED})
    preview = subscriber_csv.preview_csv(text)
    mapping = {f: request.form.get(f"column_{f}", "") for f in subscriber_csv.FIELDS}
    errors: dict[str, str] = {}
    if mode not in ("confirm", "consented"):
        errors["consent"] = N_(
            "Velg om mottakerne skal bekrefte selv, eller om de alt har samtykket."
        )
    try:
        subscriber_csv.check_mapping(preview.columns, mapping)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        preview.mapping = mapping
        return page(
            "import_preview.html",
            400,
            preview=preview,
            key=key,
            filename=filename,
            fields=subscriber_csv.FIELDS,
            errors=translated(errors),
        )
    source = f"import:{filename} by {editor.email}"
    with rt.db.session() as session:
        report = subscriber_csv.import_csv(
            session,
            text,
            current_topics(session, rt.settings),
            already_consented=mode == "consented",
            source=source,
            mapping=mapping,
            secret_keys=rt.settings.secret_keys,
        )
        audit(
            session,
            "import",
            data={
                "file": filename,
                "mode": mode,
                "imported": report.imported,
                "unchanged": report.unchanged,
                "errors": len(report.errors),
            },
        )
        session.commit()
    csv_uploads.discard(rt.settings.var_dir, editor.id, key)
    errors_shown = [(line, translated(errs)) for line, errs in report.errors]
    return page("import_done.html", report=report, row_errors=errors_shown, filename=filename)


@bp.get("/subscribers/export.csv")
def export():
    rt = runtime()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        with rt.db.session() as session:
            for row in subscriber_csv.export_rows(session):
                writer.writerow(row)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()

    with rt.db.session() as session:
        audit(session, "export")
        session.commit()
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'},
    )
