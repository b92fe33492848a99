#!/usr/bin/env python3
"""Benchmark the customer list and 360 page against the database the environment points at.

Server time of each view (Django's test client, no network), median and p95 of several runs,
for the searches, filters and sorts a user has, plus the second page via its cursor. Meant for
a large database: load one first, e.g. ``huifang demo --customers 1000000``.

    DATABASE_URL=… .venv/bin/python bench/customer_list.py [--runs 7]

``--smoke`` (for CI) does not use ``DATABASE_URL``: on a throw-away database of each kind
(SQLite; PostgreSQL when it answers on localhost, or ``--only`` one of them) loaded with
``huifang demo --customers 300``, one run; prints ``{"benchmark", "smoke", "results":
{database: the usual document}}`` and exits non-zero when a page fails.

    .venv/bin/python bench/customer_list.py --smoke [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    from common import setup_django_for_pages, smoke_on_demo, timed_page
except ImportError:  # imported as bench.customer_list
    from bench.common import setup_django_for_pages, smoke_on_demo, timed_page

SMOKE_CUSTOMERS = 300


def smoke(only: str | None) -> None:
    smoke_on_demo(
        "customer_list",
        str(Path(__file__).resolve()),
        only,
        SMOKE_CUSTOMERS,
        "--runs",
        "1",
        summary=lambda document: f"{len(document['views'])} views",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
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

    from huifang.customers.models import Customer, Tag

    total = Customer.objects.count()
    sample = (
        Customer.objects.filter(pk__gte=Customer.objects.order_by("-pk")[0].pk // 2)
        .exclude(phone="")
        .order_by("pk")
        .first()
    )
    assert sample is not None, "load customers first: huifang demo --customers 1000000"
    user = get_user_model().objects.filter(is_active=True).order_by("pk").first()
    client = Client()
    client.force_login(user)
    tag = Tag.objects.order_by("pk").first()
    first_page = client.get("/customers/?sort=name").content.decode()
    cursor = re.search(r'href="\?[^"]*after=([^"&]+)"', first_page)
    urls = [
        "/customers/",
        "/customers/?sort=name",
        "/customers/?sort=spend",
        "/customers/?sort=orders",
        f"/customers/?sort=name&after={cursor.group(1)}" if cursor else "/customers/",
        f"/customers/?q={sample.phone[3:6]}%20{sample.phone[6:10]}%20{sample.phone[10:]}",
        f"/customers/?q=%E5%B0%BE%E5%8F%B7{sample.phone[-4:]}",  # 尾号 and the last four digits
        f"/customers/?q={sample.phone[3:10]}",  # the first seven digits
        "/customers/?province=%E5%B9%BF%E4%B8%9C",  # 广东, a province's first characters
        f"/customers/?q={sample.external_id}",
        f"/customers/?q={sample.name}",
        f"/customers/?q={sample.name[0]}",
        "/customers/?tier=vip",
        "/customers/?stage=dormant&sort=spend",
        "/customers/?province=%E5%B9%BF%E4%B8%9C%E7%9C%81&city=%E6%B7%B1%E5%9C%B3%E5%B8%82",
        f"/customers/?tag={tag.pk if tag else 0}",
        "/customers/?owner=none&sort=name",
        f"/customers/{sample.pk}/",
    ]
    results = [timed_page(client, url, args.runs) for url in urls]
    print(
        json.dumps(
            {
                "benchmark": "customer_list",
                "database": connection.vendor,
                "customers": total,
                "runs": args.runs,
                "views": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
