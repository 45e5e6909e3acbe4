"""The dashboard: subscribers by state, activity per month (SVG), the last issues."""

from __future__ import annotations

from sqlalchemy import select

from mailer.bounces.stats import complaint_alert, reputation_alert, unrecognised_mail
from mailer.db import utcnow
from mailer.editors.models import Editor
from mailer.events import Event
from mailer.reports.charts import bar_chart
from mailer.reports.stats import monthly_activity, recent_issues, subscriber_counts
from mailer.runtime import runtime
from mailer.web.admin.base import admin_required, bp, language, page


@bp.get("/")
def dashboard():
    with runtime().db.session() as session:
        counts = subscriber_counts(session)
        months = monthly_activity(session, utcnow())
        issues = recent_issues(session, language())
        alert = complaint_alert(session)
        reputation = reputation_alert(session)
        unread = unrecognised_mail(session)
    return page(
        "dashboard.html",
        counts=counts,
        months=months,
        chart=bar_chart(months),
        issues=issues,
        complaint_alert=alert,
        reputation_alert=reputation,
        unread=unread,
    )


@bp.get("/audit")
@admin_required
def audit_log():
    with runtime().db.session() as session:
        events = session.scalars(
            select(Event)
            .where(Event.kind.like("admin.%") | Event.kind.like("api.%"))
            .order_by(Event.id.desc())
            .limit(300)
        ).all()
        names = {row.id: row.email for row in session.execute(select(Editor.id, Editor.email))}
    return page("audit.html", events=events, names=names)
