"""What the benchmark scripts share."""

from __future__ import annotations

import socket


def postgres_answers() -> bool:
    """Whether a PostgreSQL server answers on localhost (the PostgreSQL runs are skipped if not)."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True
