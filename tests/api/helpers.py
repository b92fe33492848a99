"""What the API tests share: the error shape, a walk through a paged list, a JSON POST."""

from __future__ import annotations

from typing import Any

from django.test import Client


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


def walk(client: Client, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _page in range(10_000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the list never ended")


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, body, content_type="application/json")
