"""The CSRF guard, here rather than in mailer.app so that a worker never imports Flask-WTF."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
