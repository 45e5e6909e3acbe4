"""Articles as the editors see them: newest first, paged; hide or show one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.models import Article, record_event

PER_PAGE = 50


class ArticleNotFound(LookupError):
    pass


@dataclass
class ArticlePage:
    articles: list[Article]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_articles(session: Session, page: int = 1, per_page: int = PER_PAGE) -> ArticlePage:
    total = session.scalar(select(func.count(Article.id))) or 0
    articles = session.scalars(
        select(Article)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return ArticlePage(list(articles), int(total), page, per_page)


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
