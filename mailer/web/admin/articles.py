"""Articles and the feeds they come from: list, hide, add or remove a feed, poll now."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for

from mailer.articles import catalogue as article_catalogue
from mailer.articles import editing as article_editing
from mailer.articles import registry as feed_registry
from mailer.articles.feeds import FeedError
from mailer.errors import ValidationFailed
from mailer.runtime import runtime
from mailer.web import ViewResult
from mailer.web.admin.base import audit, bp, page, t, tn, translated


@bp.get("/articles")
def articles():
    raw = request.args.get("page", "1")
    number = int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1
    with runtime().db.session() as session:
        listing = article_catalogue.list_articles(session, number)
        return page("articles.html", listing=listing)


def _set_hidden(article_id: int, hidden: bool) -> ViewResult:
    with runtime().db.session() as session:
        try:
            article_catalogue.set_hidden(session, article_id, hidden)
        except article_catalogue.ArticleNotFound:
            abort(404)
        audit(session, "article_hide" if hidden else "article_show", data={"id": article_id})
        session.commit()
    return redirect(url_for("admin.articles", page=request.form.get("page") or None))


def _edit_page(article_id: int, status: int = 200, errors: dict[str, str] | None = None):
    with runtime().db.session() as session:
        try:
            article = article_catalogue.get_article(session, article_id)
        except article_catalogue.ArticleNotFound:
            abort(404)
        fields = article_editing.field_states(article)
        values = dict(request.form) if errors else {f.name: f.value for f in fields}
        return page(
            "article_edit.html",
            status,
            article=article,
            fields=fields,
            values=values,
            errors=translated(errors or {}),
        )


@bp.get("/articles/<int:article_id>/edit")
def edit_article(article_id: int):
    return _edit_page(article_id)


@bp.post("/articles/<int:article_id>/edit")
def save_article(article_id: int):
    form = {name: request.form.get(name, "") for name in article_editing.EDITABLE}
    with runtime().db.session() as session:
        try:
            changed = article_editing.edit_article(session, article_id, form)
        except article_catalogue.ArticleNotFound:
            abort(404)
        except ValidationFailed as exc:
            session.rollback()
            return _edit_page(article_id, 400, exc.errors)
        if changed:
            audit(session, "article_edit", data={"id": article_id, "fields": changed})
        session.commit()
    flash(t("Artikkelen er lagret.") if changed else t("Ingen endringer."), "ok")
    return redirect(url_for("admin.edit_article", article_id=article_id))


@bp.post("/articles/<int:article_id>/hide")
def hide_article(article_id: int):
    return _set_hidden(article_id, True)


@bp.post("/articles/<int:article_id>/show")
def show_article(article_id: int):
    return _set_hidden(article_id, False)


def _feeds_page(status: int = 200, errors: dict[str, str] | None = None, url: str = ""):
    with runtime().db.session() as session:
        rows = feed_registry.feed_rows(session)
    return page("feeds.html", status, feeds=rows, errors=translated(errors or {}), url=url)


@bp.get("/feeds")
def feeds():
    return _feeds_page()


@bp.post("/feeds")
def add_feed():
    url = request.form.get("url", "")
    rt = runtime()
    with rt.db.session() as session:
        try:
            result = feed_registry.add_and_import(session, rt.settings, url)
        except ValidationFailed as exc:
            session.rollback()
            return _feeds_page(400, exc.errors, url[:2000])
        audit(session, "feed_add", data={"url": url.strip(), "new": result.new})
        session.commit()
    flash(
        t("Strømmen er lagt til og hentet:")
        + " "
        + tn("%(num)s artikkel", "%(num)s artikler", result.new),
        "ok",
    )
    return redirect(url_for("admin.feeds"))


@bp.post("/feeds/<int:feed_id>/delete")
def remove_feed(feed_id: int):
    with runtime().db.session() as session:
        try:
            url = feed_registry.remove_feed(session, feed_id)
        except feed_registry.FeedNotFound:
            abort(404)
        audit(session, "feed_remove", data={"url": url})
        session.commit()
    flash(t("Strømmen er fjernet. Artiklene den hentet, er beholdt."), "ok")
    return redirect(url_for("admin.feeds"))


@bp.post("/feeds/<int:feed_id>/poll")
def poll_feed(feed_id: int):
    rt = runtime()
    with rt.db.session() as session:
        try:
            result = feed_registry.poll_feed(session, rt.settings, feed_id)
        except feed_registry.FeedNotFound:
            abort(404)
        except FeedError as exc:
            audit(session, "feed_poll", data={"feed_id": feed_id, "error": str(exc)[:500]})
            session.commit()  # keeps the error on the feed row
            flash(t("Strømmen kunne ikke hentes:") + " " + t(exc.reason), "error")
            return redirect(url_for("admin.feeds"))
        audit(session, "feed_poll", data={"feed_id": feed_id, "new": result.new})
        session.commit()
    if result.not_modified:
        flash(t("Ingen endringer siden forrige henting."), "ok")
    else:
        counts = [
            tn("%(num)s ny", "%(num)s nye", result.new),
            tn("%(num)s oppdatert", "%(num)s oppdaterte", result.updated),
            tn("%(num)s uendret", "%(num)s uendrede", result.unchanged),
        ]
        if result.skipped:
            counts.append(tn("%(num)s hoppet over", "%(num)s hoppet over", len(result.skipped)))
        flash(", ".join(counts), "ok")
    return redirect(url_for("admin.feeds"))
