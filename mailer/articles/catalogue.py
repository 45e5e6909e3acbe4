"""Articles as the editors see them: newest first, paged; hide or show one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.articles.models import Article
from mailer.errors import NotFound
from mailer.events import record_event
from mailer.paging import Page

PER_PAGE = 50


class ArticleNotFound(NotFound):
    pass


def list_articles(session: Session, page: int = 1, per_page: int = PER_PAGE) -> Page[Article]:
    total = session.scalar(select(func.count(Article.id))) or 0
    articles = session.scalars(
        select(Article)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(per_page)
        .offset(Page.offset(page, per_page))
    ).all()
    return Page(list(articles), int(total), page, per_page)


def set_hidden(session: Session, article_id: int, hidden: bool) -> Article:
    """A hidden article is never drafted into an issue (issues holding it keep it)."""
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound(f"no article with id {article_id}")
    if article.hidden != hidden:
        article.hidden = hidden
        record_event(
            session, "article.hidden" if hidden else "article.shown", data={"id": article_id}
        )
    return article


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound(f"no article with id {article_id}")
    return article
