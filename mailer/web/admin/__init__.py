"""The editors' admin: every page behind a login, every change CSRF-protected and audited.

Views stay a few lines each: parse the form, call one domain function, answer. Importing
the package registers every page's routes on ``bp``.
"""

from mailer.web.admin import (
    articles,
    auth,
    bounces,
    dashboard,
    editors,
    issue_preview,
    issues,
    settings,
    site_settings,
    subscribers,
    tokens,
    two_factor,
)
from mailer.web.admin.base import bp

__all__ = [
    "articles",
    "auth",
    "bounces",
    "bp",
    "dashboard",
    "editors",
    "issue_preview",
    "issues",
    "settings",
    "site_settings",
    "subscribers",
    "tokens",
    "two_factor",
]
