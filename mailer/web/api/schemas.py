"""The shapes of /api/v1's requests and answers, as pydantic models: spectree turns them
into the OpenAPI 3.1 document (mailer/web/api/spec.py) next to the views they describe.

The views keep their own checks, which name each bad field in this project's error shape
(``{"errors": {field: message}}``); these models are the contract those answers keep.
tests/web/test_openapi.py fuzzes the app with schemathesis and fails on any answer that
does not match them, so the document cannot drift from the code.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from mailer.issues.states import IssueStatus
from mailer.sending.states import DeliveryStatus
from mailer.subscribers.states import SubscriptionStatus

# A field that may be left out but is never null (the view refuses null with a 400).
Absent = SkipJsonSchema[None]
# Delivery states by name: "queued", "sent", "in-doubt", … (every state, zero included).
Counts = dict[str, int]


class _Exact(BaseModel):
    """Answers list every field they have: a field added without its documentation is a
    difference the schemathesis test reports."""

    model_config = ConfigDict(extra="forbid")


class Errors(_Exact):
    errors: dict[str, str] = Field(
        description="Each bad field (or `request`, `body`, `authorization`) with its message"
    )


# --- issues -------------------------------------------------------------------------------


class IssueListItem(_Exact):
    id: int
    subject: str
    status: IssueStatus
    created_at: datetime
    sent_at: datetime | None
    counts: Counts


class IssueList(_Exact):
    issues: list[IssueListItem] = Field(description="The last 100 issues, newest first")


class Recovery(_Exact):
    rows: int = Field(description="Rows a stopped worker holds")
    next_check_at: datetime
    message: str


class Bounces(_Exact):
    delivered: int = Field(description="Copies the servers took (sent, and later bounced)")
    hard: int = Field(description="Readers with a permanent bounce")
    soft: int = Field(description="Readers with a temporary bounce")
    policy: int = Field(description="Readers whose server refused us as policy (5.7.x)")
    complaints: int = Field(description="Readers who marked the issue as spam")
    bounce_rate: float = Field(description="hard / delivered")
    complaint_rate: float = Field(description="complaints / delivered")


class _Progress(_Exact):
    id: int
    subject: str
    status: IssueStatus
    pause_reason: str | None
    counts: Counts
    total: int
    done: int
    rate_per_second: float
    eta_seconds: float | None
    deliveries_created: bool = Field(description="False until the send's rows exist")
    finished: bool
    duration_seconds: float | None = Field(description="A finished send's duration")
    average_rate: float | None = Field(description="A finished send's mails per second")
    bounces: Bounces
    recovery: Recovery | None = Field(
        description="What a stopped worker left, until the reconciler repairs it"
    )


class Progress(_Progress):
    pass


class _Summary(_Exact):
    id: int
    subject: str
    custom_subject: str = Field(description="The editor's subject; empty: the default")
    intro: str = Field(description="Markdown")
    status: IssueStatus
    scheduled_at: datetime | None
    sent_at: datetime | None
    article_ids: list[int] = Field(description="The issue's articles, in order")
    recipients: int


class IssueSummary(_Summary):
    pass


class IssueDetail(_Summary, _Progress):
    pass


class SendStarted(_Progress):
    started: bool = Field(description="False: the send had started before (this call watches)")


class Resent(_Progress):
    requeued: int


class IssueEdit(_Exact):
    subject: str | Absent = None
    intro: str | Absent = Field(default=None, description="Markdown")
    article_ids: list[int] | Absent = Field(
        default=None, description="The whole ordered list: reorder, drop and add in one call"
    )


class DeliveriesQuery(_Exact):
    status: DeliveryStatus = DeliveryStatus.IN_DOUBT


class DeliveryRow(_Exact):
    email: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    content_sent: bool | None = Field(
        default=None,
        description="In-doubt rows: true when the content went out unanswered, null when "
        "nobody knows",
    )
    message_id: str | None = None


class Deliveries(_Exact):
    deliveries: list[DeliveryRow] = Field(description="At most 1000")


# --- articles -----------------------------------------------------------------------------


class ArticleIn(_Exact):
    url: str = Field(description="Absolute http(s) URL")
    title: str
    published_at: str = Field(description="ISO 8601 with a time zone: 2026-03-14T09:30:00+01:00")
    guid: str | None = Field(default=None, description="Defaults to the url")
    summary: str | None = None
    summary_html: str | None = Field(default=None, description="Cleaned like a feed entry")
    topics: list[str] | None = None
    image_url: str | None = None
    image_alt: str | None = None
    image_caption: str | None = None


class Article(_Exact):
    id: int
    source: str
    guid: str
    url: str
    title: str
    summary: str
    published_at: datetime
    topics: list[str]
    image_url: str | None
    image_alt: str | None
    image_caption: str | None
    created_at: datetime


class ListedArticle(Article):
    hidden: bool = Field(description="Left out of future drafts")


class PageQuery(_Exact):
    page: int = Field(default=1, ge=1, le=999_999)


class ArticleList(_Exact):
    total: int
    page: int
    pages: int
    articles: list[ListedArticle] = Field(description="50 a page, newest first")


# --- subscribers --------------------------------------------------------------------------


class SignupIn(_Exact):
    email: str
    consent: bool = Field(description="Must be true: the reader agreed to the wording shown")
    name: str | None = None
    language: str | None = Field(default=None, description="nb (default) or en")
    topics: list[str] | None = None
    consent_version: str | None = None


class Accepted(_Exact):
    status: str
    message: str


class SubscriberQuery(_Exact):
    q: str | None = Field(default=None, description="Part of the email address or name")
    state: SubscriptionStatus | None = None
    topic: str | None = None
    page: int = Field(default=1, ge=1, le=999_999)


class SubscriberRow(_Exact):
    id: int
    email: str
    name: str
    language: str
    status: SubscriptionStatus
    topics: list[str]
    created_at: datetime


class SubscriberList(_Exact):
    total: int
    page: int
    pages: int
    subscribers: list[SubscriberRow] = Field(description="50 a page, newest first")


class SubscriptionInfo(_Exact):
    status: SubscriptionStatus
    topics: list[str]
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None


class ConsentRecord(_Exact):
    action: str
    channel: str
    text: str
    text_version: str
    created_at: datetime | None


class SubscriberDelivery(_Exact):
    issue_id: int
    status: DeliveryStatus
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class SubscriberDetail(_Exact):
    id: int
    email: str
    name: str
    language: str
    created_at: datetime | None
    suppressed: bool
    subscriptions: list[SubscriptionInfo]
    consents: list[ConsentRecord]
    deliveries: list[SubscriberDelivery]


# --- the newsletter -----------------------------------------------------------------------


class NewsletterSettings(_Exact):
    name: str
    language: str
    topics: list[str]
    topics_from_default: bool = Field(description="True while MAILER_TOPICS gives the topics")


class NewsletterChange(_Exact):
    name: str | Absent = None
    language: str | Absent = None
    topics: list[str] | Absent = None
