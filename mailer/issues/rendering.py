"""An issue compiled once per language, then cut to each reader's topics.

The whole digest (every article) is rendered and its CSS inlined once; the
article blocks are then cut out between their markers. A reader's copy is the
frame plus the blocks of their topics, cached per distinct topic selection,
so the per-recipient work stays a handful of string operations.

Article text is data: it cannot spell a reader's placeholder (email_templates
passes it through ``messages.literal``), and it cannot spell a block marker
either, as those carry a random value drawn after the content was fixed.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mailer.articles.models import Article
from mailer.config import Settings
from mailer.i18n import month_name
from mailer.issues.drafting import issue_month, issue_subject
from mailer.issues.intro import intro_html, intro_text
from mailer.issues.models import Issue
from mailer.mail.links import web_url
from mailer.mail.messages import MessageTemplate, make_template, substitute
from mailer.mail.templates import render_email

GREETING_NAME = "GREETING_NAME"
UNSUBSCRIBE_URL = "UNSUBSCRIBE_URL"
PREFERENCES_URL = "PREFERENCES_URL"
TEST_PREFIX = "[TEST] "

_ANY_BLOCK_MARKER = re.compile(r"<!--/?article:[0-9a-f]*(?::\d+)?-->\n?")


@cache
def _inliner() -> Any:
    # Imported here, not at the top, for worker memory: only the pool child that compiles
    # an issue needs css_inline (~1.8 MB of its code mapped), never the worker's main process.
    import css_inline

    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _split(document: str, block: str) -> tuple[tuple[str, str], list[str]]:
    """The text before and after the article blocks (marked with ``block``), and the blocks."""
    marker = re.compile(
        rf"<!--article:{re.escape(block)}:(\d+)-->\n?(.*?)<!--/article:{re.escape(block)}-->\n?",
        re.S,
    )
    found = list(marker.finditer(document))
    if not found:
        return (document, ""), []
    frame = (document[: found[0].start()], document[found[-1].end() :])
    return frame, [m.group(2) for m in found]


def _article_view(article: Article) -> dict[str, Any]:
    # Only http(s) becomes an href, also for rows stored before feed links were checked.
    # (Image URLs were checked on the way in from the start; a src runs no script.)
    return {
        "title": article.title,
        "url": web_url(article.url or ""),
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
    # The frame around the articles: (before, after), in the text and in the HTML.
    text_frame: tuple[str, str]
    html_frame: tuple[str, str]
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
            text_before, text_after = self.text_frame
            html_before, html_after = self.html_frame
            self._cache[selection] = dataclasses.replace(
                self.base,
                text=text_before + "".join(self.text_blocks[i] for i in selection) + text_after,
                html=html_before + "".join(self.html_blocks[i] for i in selection) + html_after,
            )
        return self._cache[selection]


def render_digest(
    settings: Settings, issue: Issue, language: str, block: str = "", *, archive: bool = False
) -> tuple[str, str, str]:
    """Subject, text and CSS-inlined HTML with every article and the placeholders left in;
    each article between ``<!--article:{block}:{n}-->`` and ``<!--/article:{block}-->``.

    ``archive``: the web copy, the same mail without what speaks to one reader (the
    greeting, "you get this because", personal links, the link to itself) and with a call
    to sign up instead."""
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
        privacy_url=settings.site.privacy_url,
        frequency=settings.site.text("frequency", language),
        archive_url=archive_url(settings, issue.id),
        subscribe_url=f"{settings.base_url}/subscribe",
        archive=archive,
        block=block,
    )
    return rendered.subject, rendered.text, _inliner().inline(rendered.html)


def feedback_id(issue: Issue, sender_domain: str) -> str:
    """Gmail's Feedback-ID (campaign:customer:mail type:sender): complaint rates per issue
    and newsletter in Postmaster Tools. Only ASCII letters, digits, dots and dashes."""
    slug = re.sub(r"[^A-Za-z0-9.-]", "-", issue.newsletter.slug)[:40] or "newsletter"
    sender = re.sub(r"[^A-Za-z0-9.-]", "-", sender_domain)[:60]
    return f"issue-{issue.id}:{slug}:digest:{sender}"


def compile_issue(
    settings: Settings, issue: Issue, language: str, *, test: bool = False
) -> CompiledDigest:
    """Everything that is the same for every reader of one language, done once."""
    block = secrets.token_hex(8)
    subject, text, html_doc = render_digest(settings, issue, language, block)
    text_frame, text_blocks = _split(text, block)
    html_frame, html_blocks = _split(html_doc, block)
    domain = settings.from_address.rpartition("@")[2]
    base = make_template(
        from_name=settings.from_name or issue.newsletter.name,
        from_address=settings.from_address,
        subject=(TEST_PREFIX if test else "") + subject,
        text="".join(text_frame),
        html_body="".join(html_frame),
        list_id=f"<{issue.newsletter.slug}.{domain}>",
        feedback_id=feedback_id(issue, domain),
    )
    return CompiledDigest(
        base=base,
        text_frame=text_frame,
        html_frame=html_frame,
        text_blocks=text_blocks,
        html_blocks=html_blocks,
        article_topics=[frozenset(item.article.topics or ()) for item in issue.items],
    )


def archive_page(settings: Settings, issue: Issue, language: str) -> str:
    """The issue as a web page: every article, no name, no personal links."""
    _, _, html_doc = render_digest(settings, issue, language, archive=True)
    html_doc = _ANY_BLOCK_MARKER.sub("", html_doc)  # in HTML, article text cannot spell one
    # The archive copy has no personal placeholder; an article's text that spells one
    # gets the signup page, never a reader's link.
    subscribe = f"{settings.base_url}/subscribe"
    values = {GREETING_NAME: "", UNSUBSCRIBE_URL: subscribe, PREFERENCES_URL: subscribe}
    return substitute(html_doc, values, escape=True)
