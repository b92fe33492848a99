"""Cursor pagination for every list operation: ``?cursor=…&limit=…`` answers
``{"items": […], "next_cursor": "…" | null}``, newest first unless the list says otherwise.

Pages are keyset pages (``huifang.core.pagination.seek``) on the primary key, so a page costs
the same at any depth and rows added while a client walks the list never shift it: the walk
sees every row that existed when it started exactly once. A cursor is signed; one that was not
made here is refused with 400 ``bad_cursor`` rather than read as "start again".
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _
from ninja import Field, Schema

from huifang.core.pagination import readable, seek

from .errors import ApiError

M = TypeVar("M", bound=Model)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(Schema):
    cursor: str | None = Field(
        None,
        max_length=500,
        description="The `next_cursor` of the previous page; omit it for the first page.",
    )
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows a page, 1 to 200 (default 50)."
    )


def page(
    queryset: QuerySet[M], query: PageQuery, *, order: str = "-pk"
) -> tuple[list[M], str | None]:
    """The page of ``queryset`` (newest first, or by ``order``: ``"pk"`` for oldest first) that
    ``query`` asks for, and the cursor of the next one (``None`` on the last page)."""
    if query.cursor is not None and not readable(query.cursor):
        raise ApiError(
            400,
            "bad_cursor",
            _("This cursor is not one this list gave out; start again without it."),
            field="cursor",
        )
    found = seek(queryset, order=order, size=query.limit, after=query.cursor or None)
    return list(found.items), found.next_cursor


def answer(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
