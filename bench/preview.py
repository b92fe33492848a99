#!/usr/bin/env python3
"""Benchmark the strategy studio's impact preview against the database the environment
points at; prints JSON.

Before a rule is switched on, its preview page shows the figures of the next 7, 14 or 30 days:
two simulations, the rule alone and with every other active rule. A worker simulates
(``huifang.studio.impact.compute``, queued when a version is saved or when no fresh figures
are kept) and the page shows the kept figures (``huifang.studio.preview.preview_result``).
For each length this measures both: the worker's simulation (``--runs`` of them, median and
slowest, in seconds) and the page's server time with the figures kept (Django's test client, no
network; one warm-up then ``--runs`` requests, median and p95), for the rule ``--rule`` of the
gallery (saved as a draft if the database does not have it). A database with no active rule
gets four of the gallery's first (``ACTIVE``: an event, a segment, a monthly and a date rule),
so that "with the other rules" has work to do. Meant for a database with the demo loaded, e.g.
``huifang demo --customers 3000``.

    DATABASE_URL=… .venv/bin/python bench/preview.py [--runs 5] [--rule retail-after-purchase]
        [--days 7 …]

``--smoke`` (for CI) does not use ``DATABASE_URL``: on a throw-away database of each kind
(SQLite; PostgreSQL when it answers on localhost, or ``--only`` one of them) loaded with
``huifang demo --customers 300``, one run of the 7-day preview; exits non-zero when a preview
fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from common import setup_django_for_pages, smoke_on_demo, timed_page
except ImportError:  # imported as bench.preview
    from bench.common import setup_django_for_pages, smoke_on_demo, timed_page

SMOKE_CUSTOMERS = 300
DAYS = (7, 14, 30)
# Active while the preview runs, when the database has no active rule: every kind of trigger.
ACTIVE = ("retail-review-invite", "dormant-reactivation", "vip-monthly", "saas-renewal")


def smoke(only: str | None) -> None:
    smoke_on_demo(
        "preview",
        str(Path(__file__).resolve()),
        only,
        SMOKE_CUSTOMERS,
        "--runs",
        "1",
        "--days",
        "7",
        summary=lambda document: document["days"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rule", default="retail-after-purchase")
    parser.add_argument(
        "--days", type=int, choices=DAYS, action="append", help="one length (repeatable); all"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny throw-away databases, for CI")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="with --smoke")
    args = parser.parse_args()
    if args.smoke:
        smoke(args.only)
        return
    setup_django_for_pages()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from huifang.customers.models import Customer
    from huifang.engine.lifecycle import activate
    from huifang.rules.models import Rule
    from huifang.rules.services import library_documents, save_rule
    from huifang.studio.impact import compute, queued

    gallery = {d.key: d for d in library_documents()}
    if not Rule.objects.filter(status=Rule.Status.ACTIVE).exists():
        for key in ACTIVE:  # a shop's usual rules, scheduled ones among them
            saved = save_rule(gallery[key], comment="benchmark")
            activate(saved.rule, saved.version)
    rule = Rule.objects.filter(key=args.rule).first()
    if rule is None:
        rule = save_rule(gallery[args.rule], comment="benchmark").rule
    user = get_user_model().objects.filter(is_superuser=True).first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-preview", "", None)
    client = Client()
    client.force_login(user)

    def figures_shown(response: Any) -> None:
        assert b"alert-danger" not in response.content, response.content.decode()[:2000]
        assert b'id="preview-result"' in response.content, response.content.decode()[:2000]

    version = rule.latest_version()
    assert version is not None

    def simulated(days: int) -> dict[str, Any]:
        """The worker's part: a queued preview simulated, ``--runs`` times."""
        samples = []
        for _run in range(args.runs):
            preview = queued(rule, version, days)
            started = time.perf_counter()
            done = compute(preview.pk)
            samples.append(time.perf_counter() - started)
            assert done is not None and done.status == "done", done and done.error
        return {
            "median_s": round(statistics.median(samples), 2),
            "max_s": round(max(samples), 2),
        }

    figures = {}
    for days in args.days or DAYS:
        worker = simulated(days)
        page = timed_page(
            client, f"/rules/{rule.key}/preview/result/?days={days}", args.runs, figures_shown
        )
        figures[days] = {"simulation": worker, "page_with_kept_figures": page}
    print(
        json.dumps(
            {
                "benchmark": "preview",
                "database": connection.vendor,
                "customers": Customer.objects.count(),
                "active_rules": Rule.objects.filter(status=Rule.Status.ACTIVE).count(),
                "rule": rule.key,
                "runs": args.runs,
                "days": figures,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
