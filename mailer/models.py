"""Every table, for Alembic and the tests: importing this registers each domain's models
on ``Base.metadata`` (and lets relationships between domains resolve)."""

from mailer.articles.models import Article, Feed
from mailer.bounces.models import BounceReport
from mailer.editors.models import ApiToken, Editor, RecoveryCode
from mailer.events import Event
from mailer.issues.models import Issue, IssueArticle, Newsletter
from mailer.sending.models import Delivery, SendRun
from mailer.site.models import SiteSetting
from mailer.subscribers.models import Consent, Subscriber, Subscription, Suppression

__all__ = [
    "ApiToken",
    "Article",
    "BounceReport",
    "Consent",
    "Delivery",
    "Editor",
    "Event",
    "Feed",
    "Issue",
    "IssueArticle",
    "Newsletter",
    "RecoveryCode",
    "SendRun",
    "SiteSetting",
    "Subscriber",
    "Subscription",
    "Suppression",
]
