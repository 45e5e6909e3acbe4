"""An issue compiled once per language, then cut to each reader's topics.

The whole digest (every article) is rendered and its CSS inlined once; the
article blocks are then cut out between their markers. A reader's copy is the
frame plus the blocks of their topics, cached per distinct topic selection,
so the per-recipient work stays a handful of string operations.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import css_inline

from mailer.config import Settings
from mailer.i18n import month_name
from mailer.issues.drafting import issue_month, issue_subject
from mailer.issues.intro import intro_html, intro_text
from mailer.mail.messages import MessageTemplate, make_template
from mailer.mail.templates import render_email
from mailer.models import Article, Issue

GREETING_NAME = "GREETING_NAME"
UNSUBSCRIBE_URL = "UNSUBSCRIBE_URL"
PREFERENCES_URL = "PREFERENCES_URL"
ARTICLES = "%%ARTICLES%%"
TEST_PREFIX = "[TEST] "

_BLOCK = re.compile(r"<!--article:(\d+)-->\n?(.*?)<!--/article-->\n?", re.S)
_inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _split(document: str) -> tuple[str, list[str]]:
    """The document with its article blocks replaced by one marker, and the blocks."""
    blocks = [m.group(2) for m in _BLOCK.finditer(document)]
    if not blocks:
        return document, []
    first = _BLOCK.search(document)
    last = list(_BLOCK.finditer(document))[-1]
    assert first is not None
    return document[: first.start()] + ARTICLES + document[last.end() :], blocks


def _article_view(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "url": article.url,
        "summary": article.summary,
        "published_at": article.published_at,
        "image_url": article.image_url,
        "image_alt": getattr(article, "image_alt", None),
        "image_caption": getattr(article, "image_caption", None),
    }


def content_key(issue: Issue) -> tuple[object, ...]:
    """What an editor can change in a draft: a compiled copy is stale when this changes."""
    return (issue.subject, issue.intro, tuple(item.article_id for item in issue.items))


def archive_url(settings: Settings, issue_id: int) -> str:
    return f"{settings.base_url}/archive/{issue_id}"


@dataclass
class CompiledDigest:
    base: MessageTemplate
    text_blocks: list[str]
    html_blocks: list[str]
    article_topics: list[frozenset[str]]
    _cache: dict[tuple[int, ...], MessageTemplate] = field(default_factory=dict)

    def selection(self, reader_topics: list[str] | None) -> tuple[int, ...]:
        """Articles in the reader's topics; untagged articles are for everyone, and a
        reader who chose no topics gets them all."""
        wanted = set(reader_topics or ())
        return tuple(
            i
            for i, topics in enumerate(self.article_topics)
            if not wanted or not topics or topics & wanted
        )

    def template_for(self, selection: tuple[int, ...]) -> MessageTemplate:
        if selection not in self._cache:
            self._cache[selection] = dataclasses.replace(
                self.base,
                text=self.base.text.replace(
                    ARTICLES, "".join(self.text_blocks[i] for i in selection)
                ),
                html=self.base.html.replace(
                    ARTICLES, "".join(self.html_blocks[i] for i in selection)
                ),
            )
        return self._cache[selection]


def render_digest(settings: Settings, issue: Issue, language: str) -> tuple[str, str, str]:
    """Subject, text and CSS-inlined HTML with every article and the placeholders left in."""
    articles = [_article_view(item.article) for item in issue.items]
    subject = issue_subject(issue, language)
    month = issue_month(issue)
    intro_plain = intro_text(issue.intro or "")
    preheader = intro_plain[:140] if intro_plain else " · ".join(a["title"] for a in articles[:3])
    rendered = render_email(
        "digest",
        language,
        custom_subject=issue.subject,
        month=month_name(month, language),
        year=month.year,
        subject=subject,
        # The Markdown source as written in the text part, sanitised HTML in the HTML part.
        intro=(issue.intro or "").strip(),
        intro_html=intro_html(issue.intro or ""),
        preheader=preheader,
        articles=articles,
        newsletter_name=issue.newsletter.name,
        organisation=settings.organisation or settings.from_name or issue.newsletter.name,
        postal_address=settings.postal_address,
        archive_url=archive_url(settings, issue.id),
    )
    return rendered.subject, rendered.text, _inliner.inline(rendered.html)


def compile_issue(
    settings: Settings, issue: Issue, language: str, *, test: bool = False
) -> CompiledDigest:
    """Everything that is the same for every reader of one language, done once."""
    subject, text, html_doc = render_digest(settings, issue, language)
    text_frame, text_blocks = _split(text)
    html_frame, html_blocks = _split(html_doc)
    domain = settings.from_address.rpartition("@")[2]
    base = make_template(
        from_name=settings.from_name or issue.newsletter.name,
        from_address=settings.from_address,
        subject=(TEST_PREFIX if test else "") + subject,
        text=text_frame,
        html_body=html_frame,
        list_id=f"<{issue.newsletter.slug}.{domain}>",
    )
    return CompiledDigest(
        base=base,
        text_blocks=text_blocks,
        html_blocks=html_blocks,
        article_topics=[frozenset(item.article.topics or ()) for item in issue.items],
    )


def archive_page(settings: Settings, issue: Issue, language: str) -> str:
    """The issue as a web page: every article, no name, no personal links."""
    _, _, html_doc = render_digest(settings, issue, language)
    html_doc = re.sub(r"<!--/?article(:\d+)?-->\n?", "", html_doc)
    subscribe = f"{settings.base_url}/subscribe"
    return (
        html_doc.replace(f"%%{GREETING_NAME}%%", "")
        .replace(f"%%{UNSUBSCRIBE_URL}%%", subscribe)
        .replace(f"%%{PREFERENCES_URL}%%", subscribe)
    )
