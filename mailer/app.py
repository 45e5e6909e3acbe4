"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

import mailer.models  # noqa: F401  (every domain's tables, so relationships between them resolve)
from mailer.celery_app import celery_init
from mailer.config import ROOT, Settings, load_settings
from mailer.i18n.jinja import install_i18n
from mailer.logs import configure_logging
from mailer.mail.dkim import checked_settings
from mailer.runtime import Runtime, new_runtime


def create_app(settings: Settings | None = None, *, web: bool = True, **overrides: Any) -> Flask:
    """The app; ``web=False`` leaves out the pages, the API, CSRF, request limits and the
    CLI (settings, database, tokens and the Celery app only). The Celery worker and beat
    build no Flask app at all: mailer/worker_app.py."""
    settings = checked_settings(settings or load_settings())
    configure_logging(settings.metrics.log_format)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates" / "web"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_keys[0],
        WTF_CSRF_TIME_LIMIT=None,
        # Form and JSON bodies are small; a 10 KB name is already an error we report.
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        JSON_AS_ASCII=False,
        CELERY={
            "broker_url": settings.broker_url,
        },
    )
    app.config.update(overrides)
    app.extensions["mailer"] = new_runtime(settings)
    install_i18n(app.jinja_env, preload=web)

    def current() -> Runtime:
        # Looked up when a task runs: the app's runtime as it is then.
        rt: Runtime = app.extensions["mailer"]
        return rt

    app.extensions["celery"] = celery_init(current, settings)
    if web:
        _init_web(app, settings)
    return app


def _init_web(app: Flask, settings: Settings) -> None:
    # Every import below is here, not at the top, so that an app built with web=False (a
    # script's, a test's) loads no views, Flask-WTF, Flask-Limiter or CLI.
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Once, here: request.remote_addr is then the client's address for every view,
        # limit and log line. Only X-Forwarded-For: links are built from MAILER_BASE_URL,
        # so the scheme and host a proxy reports are not needed.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # as Flask's docs wrap it
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0, x_host=0, x_port=0
        )
    from mailer.web.access_log import init_access_log
    from mailer.web.csrf import csrf
    from mailer.web.limits import init_limits
    from mailer.web.metrics import init_metrics
    from mailer.web.request_input import init_request_input

    init_access_log()
    init_metrics(app)
    init_request_input(app)
    csrf.init_app(app)
    init_limits(app, settings)

    from mailer.web import errors, security
    from mailer.web.admin import bp as admin_bp
    from mailer.web.api import articles as api_articles
    from mailer.web.api import issues as api_issues
    from mailer.web.api import newsletter as api_newsletter
    from mailer.web.api import signup as api_signup
    from mailer.web.api import spec as api_spec
    from mailer.web.api import subscribers as api_subscribers
    from mailer.web.reader import archive, embed, public, resend
    from mailer.web.reader import data as reader_data

    app.register_blueprint(public.bp)
    app.register_blueprint(resend.bp)
    app.register_blueprint(reader_data.bp)
    app.register_blueprint(embed.bp)
    security.init_security(app)
    app.register_blueprint(archive.bp)
    app.register_blueprint(api_signup.bp)
    app.register_blueprint(api_issues.bp)
    app.register_blueprint(api_articles.bp)
    app.register_blueprint(api_subscribers.bp)
    app.register_blueprint(api_newsletter.bp)
    app.register_blueprint(api_spec.bp)
    app.register_blueprint(admin_bp)
    from mailer.web import webhooks

    app.register_blueprint(webhooks.bp)
    errors.register(app)
    if settings.dev_outbox:
        from mailer.web.reader import outbox

        app.register_blueprint(outbox.bp)

    from mailer.cli import register_commands

    register_commands(app)
