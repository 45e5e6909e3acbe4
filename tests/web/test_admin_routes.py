"""Every admin route for an anonymous visitor, an editor and an admin; CSRF; bad input."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from mailer.db import utcnow
from mailer.events import Event
from mailer.i18n import LOCAL_ZONE
from mailer.issues.models import Issue
from mailer.subscribers.models import Subscriber, Subscription
from mailer.web.limits import limiter
from tests.harness.admin import (
    PASSWORD,
    World,
    log_in,
    make_editors,
    make_world,
    token_from,
)
from tests.harness.feeds import default_items, rss
from tests.harness.http import FeedServer
from tests.harness.pages import csrf_token

_LOCAL_FEED: dict[str, str] = {"url": ""}


@pytest.fixture(scope="module", autouse=True)
def _local_feed() -> Iterator[None]:
    server = FeedServer()
    server.body = rss(default_items())
    server.start()
    _LOCAL_FEED["url"] = server.url
    yield
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        limiter.reset()


def _future() -> str:
    return (utcnow() + timedelta(days=3)).astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")


CSV = b"email,name\nny@example.no,Ny Leser\n"


@dataclass(frozen=True)
class Route:
    method: str
    # {issue}, {article}, {extra}, {subscriber}, {feed}, {editor}, {email}, {token}, {report}
    path: str
    admin_only: bool = False
    data: Callable[[World], dict[str, Any]] | None = None
    # What a permitted editor gets in a fresh world.
    expect: int = 200
    # False for a POST that only shows something (the upload's preview).
    audited: bool = True

    def url(self, world: World, editor_id: int) -> str:
        return self.path.format(
            issue=world.issue_id,
            article=world.article_ids[0],
            extra=world.extra_article_id,
            subscriber=world.subscriber_id,
            feed=world.feed_id,
            editor=editor_id,
            email=world.subscriber_email,
            token=world.token_id,
            report=world.report_id,
        )


ROUTES = [
    Route("GET", "/admin/"),
    Route("GET", "/admin/account"),
    Route("POST", "/admin/account/token"),
    Route("POST", "/admin/account/token", data=lambda w: {"expires_days": "30"}),
    Route("POST", "/admin/account/sessions/end", expect=302),
    Route("GET", "/admin/tokens", admin_only=True),
    # The editor's own token: its owner may revoke it, and so may an admin.
    Route("POST", "/admin/tokens/{token}/revoke", expect=302),
    Route("GET", "/admin/account/password"),
    Route(
        "POST",
        "/admin/account/password",
        data=lambda w: {
            "current_password": PASSWORD,
            "new_password": "et nytt og like langt passord",
            "repeat_password": "et nytt og like langt passord",
        },
        expect=302,
    ),
    Route("GET", "/admin/settings", admin_only=True),
    Route(
        "POST",
        "/admin/settings",
        admin_only=True,
        data=lambda w: {"name": "Europanytt", "language": "en", "topics": "Klima\nEnergi"},
        expect=302,
    ),
    Route(
        "POST",
        "/admin/settings/topics",
        admin_only=True,
        data=lambda w: {"topic": "Helse"},
        expect=302,
    ),
    Route("GET", "/admin/account/two-factor"),
    # A wrong first code: the form again with the error, nothing changed.
    Route(
        "POST",
        "/admin/account/two-factor",
        data=lambda w: {"code": "not-a-code"},
        expect=400,
        audited=False,
    ),
    Route("GET", "/admin/settings/site", admin_only=True),
    Route(
        "POST",
        "/admin/settings/site",
        admin_only=True,
        data=lambda w: {"organisation": "Europakontoret", "allowed_origins": ""},
        expect=302,
    ),
    Route("POST", "/admin/language", data=lambda w: {"language": "en"}, expect=302),
    Route("POST", "/admin/logout", expect=302),
    Route("GET", "/admin/audit", admin_only=True),
    Route("GET", "/admin/editors", admin_only=True),
    Route(
        "POST",
        "/admin/editors",
        admin_only=True,
        data=lambda w: {"email": "ny@example.no", "password": "x" * 12, "role": "editor"},
        expect=302,
    ),
    Route(
        "POST",
        "/admin/editors/{editor}/role",
        admin_only=True,
        data=lambda w: {"role": "admin"},
        expect=302,
    ),
    Route("POST", "/admin/editors/{editor}/sessions/end", admin_only=True, expect=302),
    Route("POST", "/admin/editors/{editor}/disable", admin_only=True, expect=302),
    Route("POST", "/admin/editors/{editor}/enable", admin_only=True, expect=302),
    Route("GET", "/admin/articles"),
    Route("GET", "/admin/articles/{article}/edit"),
    Route(
        "POST",
        "/admin/articles/{article}/edit",
        data=lambda w: {"title": "Rettet tittel", "url": "https://europakontor.example.no/a"},
        expect=302,
    ),
    Route("POST", "/admin/articles/{article}/hide", expect=302),
    Route("POST", "/admin/articles/{article}/show", expect=302),
    Route("GET", "/admin/feeds"),
    # Adding a feed fetches it at once: a feed on loopback (see _local_feed).
    Route("POST", "/admin/feeds", data=lambda w: {"url": _LOCAL_FEED["url"]}, expect=302),
    Route("POST", "/admin/feeds/{feed}/poll", expect=302),
    Route("POST", "/admin/feeds/{feed}/delete", expect=302),
    Route("GET", "/admin/issues"),
    Route("POST", "/admin/issues/draft", expect=302),
    Route("GET", "/admin/issues/{issue}"),
    Route(
        "POST",
        "/admin/issues/{issue}/content",
        data=lambda w: {"subject": "Mars", "intro": "Hei"},
        expect=302,
    ),
    Route(
        "POST",
        "/admin/issues/{issue}/articles",
        data=lambda w: {"action": f"down:{w.article_ids[0]}"},
        expect=302,
    ),
    Route(
        "POST",
        "/admin/issues/{issue}/articles/add",
        data=lambda w: {"article_id": str(w.extra_article_id)},
        expect=302,
    ),
    Route("GET", "/admin/issues/{issue}/preview?as={email}"),
    Route("GET", "/admin/issues/{issue}/preview.html?as={email}"),
    Route("POST", "/admin/issues/{issue}/test", data=lambda w: {"language": "nb"}, expect=302),
    Route("GET", "/admin/issues/{issue}/send"),
    Route("POST", "/admin/issues/{issue}/send", expect=302),
    Route(
        "POST",
        "/admin/issues/{issue}/schedule",
        data=lambda w: {"when": _future(), "confirm": "yes"},
        expect=302,
    ),
    Route("POST", "/admin/issues/{issue}/unschedule", expect=409),
    Route("POST", "/admin/issues/{issue}/pause", expect=409),
    Route("POST", "/admin/issues/{issue}/resume", expect=409),
    Route("POST", "/admin/issues/{issue}/cancel", data=lambda w: {"confirm": "yes"}, expect=302),
    Route(
        "POST",
        "/admin/issues/{issue}/resend",
        data=lambda w: {"which": "in-doubt", "confirm": "yes"},
        expect=409,
    ),
    Route("GET", "/admin/issues/{issue}/progress.json"),
    Route("GET", "/admin/subscribers"),
    Route("GET", "/admin/subscribers/{subscriber}"),
    Route("GET", "/admin/bounces/{report}"),
    Route("POST", "/admin/subscribers/{subscriber}/unsubscribe", expect=302),
    Route("POST", "/admin/subscribers/{subscriber}/suppress", expect=302),
    Route("POST", "/admin/subscribers/{subscriber}/reactivate", expect=302),
    Route("GET", "/admin/subscribers/{subscriber}/erase"),
    Route(
        "POST",
        "/admin/subscribers/{subscriber}/erase",
        data=lambda w: {"confirm": "yes"},
        expect=302,
    ),
    Route("GET", "/admin/subscribers/export.csv"),
    Route("GET", "/admin/subscribers/import"),
    Route(
        "POST",
        "/admin/subscribers/import",
        data=lambda w: {"file": (io.BytesIO(CSV), "liste.csv")},
        audited=False,
    ),
    Route(
        "POST",
        "/admin/subscribers/import/confirm",
        data=lambda w: {"key": "x" * 24, "mode": "confirm", "column_email": "email"},
        expect=400,
    ),
]
ROUTE_IDS = [f"{r.method} {r.path}" for r in ROUTES]


def test_the_route_table_covers_every_admin_route(app):
    ours = {(r.method, r.path.split("?")[0]) for r in ROUTES}
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint not in (
            "admin.login",
            "admin.login_submit",
            "admin.login_code",  # the code after the password: tests/editors/test_two_factor.py
            "admin.login_code_submit",
        ):
            path = rule.rule
            for name, placeholder in (
                ("issue_id", "{issue}"),
                ("subscriber_id", "{subscriber}"),
                ("feed_id", "{feed}"),
                ("editor_id", "{editor}"),
                ("token_id", "{token}"),
                ("report_id", "{report}"),
            ):
                path = path.replace(f"<int:{name}>", placeholder)
            article = "{extra}" if "show" in path else "{article}"
            path = path.replace("<int:article_id>", article)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                registered.add((method, path))
    ours = {(m, p.replace("{extra}", "{article}")) for m, p in ours}
    registered = {(m, p.replace("{extra}", "{article}")) for m, p in registered}
    assert registered == ours


def _send(client, route: Route, world: World, editor_id: int, token: str | None):
    url = route.url(world, editor_id)
    if route.method == "GET":
        return client.get(url)
    data = route.data(world) if route.data else {}
    if token is not None:
        data["csrf_token"] = token
    return client.post(url, data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_anonymous_is_sent_to_the_login_page_and_nothing_changes(client, session, route):
    ids = make_editors(session)
    world = make_world(session)
    events = session.scalar(select(func.count(Event.id)))
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    response = _send(client, route, world, ids["editor"], token)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    if route.method == "GET":
        assert "next=" in response.headers["Location"]
    session.expire_all()
    assert session.scalar(select(func.count(Event.id))) == events


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("role", ["editor", "admin"])
def test_each_role_gets_the_page_or_403(client, session, route, role):
    ids = make_editors(session)
    world = make_world(session)
    log_in(client, ids[role])
    token = token_from(client)
    events = session.scalar(select(func.count(Event.id)))
    response = _send(client, route, world, ids["editor"], token)
    if route.admin_only and role == "editor":
        assert response.status_code == 403
        assert "administrator" in response.get_data(as_text=True).lower()
        session.expire_all()
        assert session.scalar(select(func.count(Event.id))) == events
        return
    assert response.status_code == route.expect, response.get_data(as_text=True)[:2000]
    if route.method == "POST" and route.expect < 400 and route.audited:
        # A change an editor made: one audit row with who and what.
        session.expire_all()
        audit = session.scalars(
            select(Event).where(Event.kind.like("admin.%")).order_by(Event.id.desc())
        ).first()
        assert audit is not None and audit.data["editor_id"] == ids[role]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.method == "POST"], ids=lambda r: f"POST {r.path}"
)
def test_posts_without_a_csrf_token_are_refused_and_change_nothing(client, session, route):
    ids = make_editors(session)
    world = make_world(session)
    log_in(client, ids["admin"])
    events = session.scalar(select(func.count(Event.id)))
    response = _send(client, route, world, ids["editor"], token=None)
    assert response.status_code == 400
    assert "csrf_token" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count(Event.id))) == events


def test_a_token_from_another_session_is_refused(app, client, session):
    ids = make_editors(session)
    world = make_world(session)
    other = app.test_client()
    log_in(other, ids["admin"])
    foreign = token_from(other)
    log_in(client, ids["admin"])
    token_from(client)
    response = client.post(
        f"/admin/issues/{world.issue_id}/content",
        data={"subject": "Kapret", "csrf_token": foreign},
    )
    assert response.status_code == 400
    session.expire_all()
    assert session.get(Issue, world.issue_id).subject == ""


# ---- login, logout, session ------------------------------------------------------------


def _login(client, email: str, password: str, next_url: str = ""):
    token = csrf_token(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token, "next": next_url},
    )


def test_login_sets_a_fresh_httponly_lax_session_and_logout_ends_it(client, session):
    make_editors(session)
    response = _login(client, "Redaktor@Example.no", "et langt og trygt passord")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/admin/").status_code == 200
    kinds = set(session.scalars(select(Event.kind)))
    assert "admin.login" in kinds
    out = client.post("/admin/logout", data={"csrf_token": token_from(client)})
    assert out.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_secure_cookie_flag_follows_an_https_base_url(app):
    # The test settings use https://nyhetsbrev.example.no as the base URL.
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_login_goes_to_next_only_when_it_is_a_local_admin_path(client, session):
    make_editors(session)
    ok = _login(client, "admin@example.no", "et langt og trygt passord", "/admin/subscribers?q=a")
    assert ok.headers["Location"] == "/admin/subscribers?q=a"
    for evil in ("https://evil.example/", "//evil.example/admin", "/\\evil.example", "/public"):
        client.post("/admin/logout", data={"csrf_token": token_from(client)})
        response = _login(client, "admin@example.no", "et langt og trygt passord", evil)
        assert response.headers["Location"] == "/admin/", evil


def test_wrong_password_and_unknown_account_get_the_same_answer(client, session):
    make_editors(session)
    wrong = _login(client, "admin@example.no", "feil passord her")
    unknown = _login(client, "ingen@example.no", "feil passord her")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "Feil e-postadresse eller passord." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_failed_logins_are_throttled_per_account(client, session):
    make_editors(session)
    for _ in range(5):
        assert _login(client, "admin@example.no", "feil passord her").status_code == 401
    throttled = _login(client, "admin@example.no", "et langt og trygt passord")
    assert throttled.status_code == 429
    assert "For mange forsøk" in throttled.get_data(as_text=True)
    # Another account from the same address is not locked out by this one.
    assert _login(client, "redaktor@example.no", "et langt og trygt passord").status_code == 302


LOOK_ALIKES = [
    ("ed@example.no", "ＥＤ@example.no."),
    ("ed@example.no", "Ed@EXAMPLE.NO"),
    ("ed@example.no", "ed@ＥＸＡＭＰＬＥ.no"),
    ("ed@example.no", "ed@example.no."),
    ("ed@bücher.no", "ed@xn--bcher-kva.no"),
    ("ed@xn--bcher-kva.no", "ED@BÜCHER.NO"),
]


@pytest.mark.parametrize(("failed_as", "then_as"), LOOK_ALIKES)
def test_the_lockout_counts_on_the_account_login_uses_not_the_spelling(
    client, session, failed_as, then_as
):
    from mailer.editors.accounts import create_editor

    create_editor(session, failed_as, PASSWORD)
    session.commit()
    # The other spelling is a real way in: unlocked, it logs in to the same account.
    assert _login(client, then_as, PASSWORD).status_code == 302
    client.post("/admin/logout", data={"csrf_token": token_from(client)})
    for _ in range(5):
        assert _login(client, failed_as, "feil passord her").status_code == 401
    locked = _login(client, then_as, PASSWORD)
    assert locked.status_code == 429
    assert client.get("/admin/").status_code == 302


PROXY = {"REMOTE_ADDR": "10.0.0.1"}


def _login_via(client, email: str, password: str, forwarded: str):
    """A login through a reverse proxy at 10.0.0.1 that appends the client's address."""
    headers = {"X-Forwarded-For": forwarded}
    page = client.get("/admin/login", environ_base=PROXY, headers=headers)
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        environ_base=PROXY,
        headers=headers,
    )


def _last(session, kind: str) -> Event:
    session.expire_all()
    return session.scalars(
        select(Event).where(Event.kind == kind).order_by(Event.id.desc())
    ).first()


def test_behind_a_trusted_proxy_each_editor_has_their_own_ip_and_bucket(app_behind_proxy, session):
    make_editors(session)
    first, second = app_behind_proxy.test_client(), app_behind_proxy.test_client()
    for _ in range(2):  # the fixture's ADMIN_LOGIN_IP_LIMIT: 2 a minute
        assert (
            _login_via(first, "admin@example.no", "feil passord", "203.0.113.5").status_code == 401
        )
    assert _login_via(first, "admin@example.no", PASSWORD, "203.0.113.5").status_code == 429
    assert _last(session, "admin.login_failed").data["ip"] == "203.0.113.5"
    # Another editor behind the same proxy is not in the first one's bucket.
    assert _login_via(second, "redaktor@example.no", PASSWORD, "203.0.113.6").status_code == 302
    assert _last(session, "admin.login").data["ip"] == "203.0.113.6"
    changed = second.post(
        "/admin/language",
        data={"language": "en", "csrf_token": token_from(second)},
        environ_base=PROXY,
        headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.6"},
    )
    assert changed.status_code == 302
    # The audit log records the client, never the proxy, nor what the client claims.
    assert _last(session, "admin.language").data["ip"] == "203.0.113.6"


def test_without_trusted_proxies_the_forwarded_header_is_ignored(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_LOGIN_IP_LIMIT", "2 per minute")
    make_editors(session)
    other = app.test_client()
    for _ in range(2):
        assert (
            _login_via(client, "admin@example.no", "feil passord", "203.0.113.5").status_code == 401
        )
    assert _last(session, "admin.login_failed").data["ip"] == "10.0.0.1"
    # A header anyone can send: the peer's bucket is the one that counts.
    assert _login_via(other, "redaktor@example.no", PASSWORD, "203.0.113.6").status_code == 429


def test_login_posts_are_throttled_per_ip(client, session):
    make_editors(session)
    answers = [
        _login(client, f"x{i}@example.no", "feil passord her").status_code for i in range(11)
    ]
    assert answers[:10] == [401] * 10
    assert answers[10] == 429


def test_a_deleted_editor_is_logged_out(client, session):
    ids = make_editors(session)
    log_in(client, ids["editor"])
    assert client.get("/admin/").status_code == 200
    from mailer.editors.models import Editor

    session.delete(session.get(Editor, ids["editor"]))
    session.commit()
    assert client.get("/admin/").status_code == 302


# ---- language ---------------------------------------------------------------------------


def test_each_editor_sees_the_admin_in_their_own_language(client, session):
    ids = make_editors(session)
    log_in(client, ids["editor"])
    assert "Abonnenter" in client.get("/admin/").get_data(as_text=True)
    client.post("/admin/language", data={"language": "en", "csrf_token": token_from(client)})
    page = client.get("/admin/").get_data(as_text=True)
    assert "Subscribers" in page and 'lang="en"' in page
    other = client.application.test_client()
    log_in(other, ids["admin"])
    assert "Abonnenter" in other.get("/admin/").get_data(as_text=True)


# ---- bad input anywhere: a clear message naming the field, nothing changed ------------


@pytest.fixture
def admin_client(client, session):
    ids = make_editors(session)
    world = make_world(session)
    log_in(client, ids["admin"])
    client.world = world
    client.token = token_from(client)
    return client


def _post(client, path: str, **data: Any):
    return client.post(path, data={**data, "csrf_token": client.token})


def test_an_empty_subject_is_refused_with_the_field_named(admin_client, session):
    world = admin_client.world
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/content", subject="   ", intro="Ny intro"
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'data-field="subject"' in page and "Emnet kan ikke være tomt." in page
    session.expire_all()
    issue = session.get(Issue, world.issue_id)
    assert (issue.subject, issue.intro) == ("", "")


def test_an_english_editor_gets_the_message_in_english(admin_client, session):
    _post(admin_client, "/admin/language", language="en")
    response = _post(
        admin_client, f"/admin/issues/{admin_client.world.issue_id}/content", subject=""
    )
    assert response.status_code == 400
    assert "The subject cannot be empty." in response.get_data(as_text=True)


def test_counts_on_the_issue_pages_take_the_plural_form_of_the_editor_s_language(
    admin_client, session
):
    issue_id = admin_client.world.issue_id

    def shown(path: str) -> str:
        return admin_client.get(path).get_data(as_text=True)

    assert "2 aktive abonnenter" in shown(f"/admin/issues/{issue_id}")
    assert "til 2 abonnenter?" in shown(f"/admin/issues/{issue_id}/send")
    session.execute(
        update(Subscription)
        .where(Subscription.subscriber_id != admin_client.world.subscriber_id)
        .values(status="unsubscribed")
    )
    session.commit()
    assert "1 aktiv abonnent<" in shown(f"/admin/issues/{issue_id}")
    assert "Ja, send til 1 abonnent<" in shown(f"/admin/issues/{issue_id}/send")
    _post(admin_client, "/admin/language", language="en")
    assert "1 active subscriber<" in shown(f"/admin/issues/{issue_id}")
    page = shown(f"/admin/issues/{issue_id}/send")
    assert "to 1 subscriber?" in page and "Yes, send to 1 subscriber<" in page


@pytest.mark.parametrize("article_id", ["987654", "abc", "", "-1", "1" * 40])
def test_an_unknown_article_id_is_refused_and_the_issue_is_unchanged(
    admin_client, session, article_id
):
    world = admin_client.world
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/articles/add", article_id=article_id
    )
    assert response.status_code == 400
    assert 'data-field="article_id"' in response.get_data(as_text=True)
    for action in (f"remove:{article_id}", f"up:{article_id}", "explode:1"):
        bad = _post(admin_client, f"/admin/issues/{world.issue_id}/articles", action=action)
        assert bad.status_code == 400
    session.expire_all()
    items = session.get(Issue, world.issue_id).items
    assert [i.article_id for i in items] == world.article_ids


def test_removing_the_last_article_is_refused(admin_client, session):
    world = admin_client.world
    for article_id in world.article_ids[:-1]:
        ok = _post(
            admin_client, f"/admin/issues/{world.issue_id}/articles", action=f"remove:{article_id}"
        )
        assert ok.status_code == 302
    last = world.article_ids[-1]
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/articles", action=f"remove:{last}"
    )
    assert response.status_code == 400
    assert "minst én artikkel" in response.get_data(as_text=True)


def test_a_sending_issue_cannot_be_edited(admin_client, session):
    world = admin_client.world
    assert _post(admin_client, f"/admin/issues/{world.issue_id}/send").status_code == 302
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/content", subject="For sent", intro=""
    )
    assert response.status_code == 400
    assert 'data-field="status"' in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Issue, world.issue_id).subject == ""


@pytest.mark.parametrize("when", ["", "i morgen", "2020-01-01T09:00", "2999-01-01T09:00"])
def test_a_bad_schedule_time_is_refused(admin_client, session, when):
    world = admin_client.world
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/schedule", when=when, confirm="yes"
    )
    assert response.status_code == 400
    assert 'data-field="when"' in response.get_data(as_text=True)
    session.expire_all()
    issue = session.get(Issue, world.issue_id)
    assert (issue.status, issue.scheduled_at) == ("draft", None)


def test_unknown_ids_are_404(admin_client):
    for path in (
        "/admin/issues/987654",
        "/admin/issues/987654/progress.json",
        "/admin/subscribers/987654",
    ):
        assert admin_client.get(path).status_code == 404
    for path in (
        "/admin/issues/987654/pause",
        "/admin/subscribers/987654/erase",
        "/admin/articles/987654/hide",
        "/admin/feeds/987654/poll",
    ):
        assert _post(admin_client, path, confirm="yes").status_code == 404


def _upload(client, data: bytes, name: str = "liste.csv"):
    return client.post(
        "/admin/subscribers/import",
        data={"file": (io.BytesIO(data), name), "csrf_token": client.token},
        content_type="multipart/form-data",
    )


def _subscriber_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Subscriber.id))) or 0


def test_a_csv_in_the_wrong_encoding_is_refused(admin_client, session):
    before = _subscriber_count(session)
    response = _upload(admin_client, "email,navn\nbjørn@example.no,Bjørn Ås\n".encode("latin-1"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'data-field="file"' in page and "ikke UTF-8" in page
    assert _subscriber_count(session) == before


def test_ten_megabytes_of_junk_are_refused(admin_client, session):
    before = _subscriber_count(session)
    response = _upload(admin_client, bytes(range(256)) * (10 * 1024 * 1024 // 256))
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert 'data-field="file"' in page and "5 MB" in page
    assert _subscriber_count(session) == before


def test_megabytes_of_text_junk_are_refused_with_the_reason(admin_client, session):
    before = _subscriber_count(session)
    one_field = _upload(admin_client, b"abc,def\n" + b"x" * (4 * 1024 * 1024))
    assert one_field.status_code == 400
    assert "Filen kan ikke leses som CSV." in one_field.get_data(as_text=True)
    rows = _upload(admin_client, b"abc,def\n" + b"x" * 100 + b",y\n" * 30000)
    assert rows.status_code == 400
    assert "Ingen kolonne ser ut til" in rows.get_data(as_text=True)
    assert _subscriber_count(session) == before


def test_public_routes_keep_their_small_body_limit(client, session):
    response = client.post("/subscribe", data={"name": "x" * (300 * 1024)})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    [b"", b"\n\n", b"navn,by\nKari,Oslo\n", b"email\n\x00\x00\n"],
    ids=["empty", "blank-lines", "no-email-column", "nul-bytes"],
)
def test_a_csv_without_addresses_is_refused(admin_client, session, body):
    before = _subscriber_count(session)
    response = _upload(admin_client, body)
    assert response.status_code == 400
    assert 'data-field="file"' in response.get_data(as_text=True)
    assert _subscriber_count(session) == before


def test_import_confirm_refuses_a_bad_mapping_and_an_unknown_upload(admin_client, session):
    preview = _upload(admin_client, b"E-post,Navn\nny@example.no,Ny\n")
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    import re

    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    before = _subscriber_count(session)
    for data, field in (
        ({"column_email": "", "mode": "confirm"}, "email"),
        ({"column_email": "Finnes ikke", "mode": "confirm"}, "email"),
        ({"column_email": "E-post", "column_name": "E-post", "mode": "confirm"}, "mapping"),
        ({"column_email": "E-post", "mode": "kanskje"}, "consent"),
    ):
        response = _post(
            admin_client,
            "/admin/subscribers/import/confirm",
            key=key,
            filename="liste.csv",
            **data,
        )
        assert response.status_code == 400
        assert f'data-field="{field}"' in response.get_data(as_text=True)
    stranger = _post(
        admin_client,
        "/admin/subscribers/import/confirm",
        key="../../etc/passwd",
        mode="confirm",
        column_email="E-post",
    )
    assert stranger.status_code == 400
    assert 'data-field="upload"' in stranger.get_data(as_text=True)
    assert _subscriber_count(session) == before


@pytest.mark.parametrize(
    "query, field",
    [("state=nope", "state"), ("topic=Sport", "topic"), ("page=0", "page"), ("page=x", "page")],
)
def test_bad_subscriber_filters_are_reported(admin_client, query, field):
    response = admin_client.get(f"/admin/subscribers?{query}")
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.get_data(as_text=True)


def test_bad_editor_and_feed_input_is_reported(admin_client, session):
    for data, field in (
        ({"email": "ikke-en-adresse", "password": "x" * 12, "role": "editor"}, "email"),
        ({"email": "ny@example.no", "password": "kort", "role": "editor"}, "password"),
        ({"email": "ny@example.no", "password": "x" * 12, "role": "sjef"}, "role"),
        ({"email": "admin@example.no", "password": "x" * 12, "role": "editor"}, "email"),
    ):
        response = _post(admin_client, "/admin/editors", **data)
        assert response.status_code == 400
        assert f'data-field="{field}"' in response.get_data(as_text=True)
    for url in (
        "ftp://example.no/feed",
        "ikke en url",
        "javascript:alert(1)",
        "http://127.0.0.1:9/feed.xml",
    ):
        response = _post(admin_client, "/admin/feeds", url=url)
        assert response.status_code == 400
        assert 'data-field="url"' in response.get_data(as_text=True)
    assert _post(admin_client, "/admin/language", language="xx").status_code == 400


def test_the_last_admin_cannot_be_demoted(admin_client, session):
    from mailer.editors.models import Editor

    admin = session.scalars(select(Editor).where(Editor.role == "admin")).one()
    response = _post(admin_client, f"/admin/editors/{admin.id}/role", role="editor")
    assert response.status_code == 400
    session.expire_all()
    assert session.get(Editor, admin.id).role == "admin"


def test_preview_of_someone_who_is_not_a_subscriber_is_a_clear_400(admin_client):
    world = admin_client.world
    for address in ("ukjent@example.no", "ikke-en-adresse", ""):
        response = admin_client.get(f"/admin/issues/{world.issue_id}/preview?as={address}")
        assert response.status_code == 400
        assert 'data-field="as"' in response.get_data(as_text=True)


def test_a_bad_test_address_is_refused_and_nothing_is_sent(admin_client, smtp_sink):
    world = admin_client.world
    response = _post(
        admin_client, f"/admin/issues/{world.issue_id}/test", to="ikke@", language="nb"
    )
    assert response.status_code == 400
    assert 'data-field="to"' in response.get_data(as_text=True)
    assert smtp_sink.messages == []


def test_cancel_schedule_and_erase_need_the_box_ticked(admin_client, session):
    world = admin_client.world
    assert _post(admin_client, f"/admin/issues/{world.issue_id}/cancel").status_code == 400
    unticked = _post(admin_client, f"/admin/issues/{world.issue_id}/schedule", when=_future())
    assert unticked.status_code == 400
    assert _post(admin_client, f"/admin/subscribers/{world.subscriber_id}/erase").status_code == 400
    session.expire_all()
    assert session.get(Issue, world.issue_id).status == "draft"
    assert session.get(Subscriber, world.subscriber_id) is not None


def test_an_english_editor_sees_no_norwegian_on_the_main_pages(admin_client, session):
    world = admin_client.world
    _post(admin_client, "/admin/language", language="en")
    norwegian = ("Utsendelse", "Abonnent", "Lagre", "Innledning", "Forhåndsvis", "Slett", "Søk")
    for path in (
        "/admin/",
        f"/admin/issues/{world.issue_id}",
        "/admin/subscribers",
        f"/admin/subscribers/{world.subscriber_id}",
        f"/admin/subscribers/{world.subscriber_id}/erase",
        "/admin/subscribers/import",
        "/admin/articles",
        "/admin/feeds",
        "/admin/editors",
        "/admin/account",
        "/admin/account/password",
        "/admin/settings",
        "/admin/settings/site",
    ):
        page = admin_client.get(path).get_data(as_text=True)
        found = [word for word in norwegian if word in page]
        assert not found, (path, found)
