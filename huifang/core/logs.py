"""Logging filters.

Django logs every refused request (``django.request``: 403 Permission denied, 400 bad request)
with the exception's traceback, which says nothing a line would not and buries real errors: an
agent opening a page of another team's would write thirty lines a click. A client's error (4xx)
is logged as one line — the status, method and path are in the message — and a server error
(5xx) keeps its traceback.
"""

from __future__ import annotations

import logging


class ClientErrorsInOneLine(logging.Filter):
    """Drop the traceback of a record about a request answered with a 4xx status."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
