from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse

from huifang.accounts.permissions import public


@public("answers only whether the database is reachable")
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and ``make run``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # any database error means "not ready"
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {"status": "ok" if status == 200 else "error", "database": database}, status=status
    )
