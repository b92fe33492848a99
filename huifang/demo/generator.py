"""``huifang demo``: realistic customers, staff and 18 months of events.

Customers are made in chunks of ten thousand by child processes while the parent writes the
previous chunk, so making and writing overlap on two cores and a million customers need no more
memory than a few chunks. Ids are assigned here, so events point at their customers without
reading anything back, and rows arrive already formatted for the database (COPY text for
PostgreSQL, flat value lists for SQLite). Customers are written with their derived figures and
tier already worked out from the events made for them (``people.py``); a test checks that
``customers.derived`` computes the same. A large load builds its secondary indexes and checks
its foreign keys once at the end (``writer.py``).
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from faker import Faker

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role, ensure_role_groups
from huifang.analytics.rollup import rebuild
from huifang.customers.models import Consent, Customer, Event, Tag
from huifang.demo.followups import open_demo_tasks
from huifang.demo.history import DAYS, write_demo_history
from huifang.demo.surveys import answer_demo_surveys
from huifang.studio.gallery import load_library

from . import data
from .people import Chunk, ChunkSpec, Pools, make_chunk
from .writer import BulkWriter

INDUSTRIES = ("retail", "saas", "clinic")
CHUNK = 10_000


class DemoError(Exception):
    pass


@dataclass
class DemoStats:
    customers: int
    events: int
    staff: int
    seconds: float


def _pools(seed: int) -> Pools:
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    return Pools(
        surnames=[fake.last_name() for _ in range(400)],
        given=[fake.first_name() for _ in range(600)],
        company_words=[fake.company_prefix() for _ in range(300)],
    )


def _ensure_staff(rng: random.Random) -> dict[str, list[int]]:
    """12 agents in 3 teams, 2 supervisors, 1 admin and 1 analyst (kept if already there)."""
    User = get_user_model()
    groups = ensure_role_groups()
    fake = Faker("zh_CN")
    fake.seed_instance(7)
    teams = {
        key: Team.objects.get_or_create(key=key, defaults={"name": name, "description": desc})[0]
        for key, name, desc in data.TEAMS
    }

    def person(username: str, role: str, team: Team | None, **profile: Any) -> Any:
        user, created = User.objects.get_or_create(username=username)
        if created:
            full = fake.name()
            user.first_name, user.last_name = full[1:], full[:1]
            user.email = f"{username}@demo.huifang.local"
            user.set_unusable_password()
            user.save()
            user.groups.add(groups[role])
            StaffProfile.objects.create(
                user=user,
                display_name=full,
                team=team,
                mobile=f"+86139{rng.randrange(10**8):08d}",
                **profile,
            )
        return user

    sup1 = person("supervisor1", Role.SUPERVISOR, teams["service"])
    sup2 = person("supervisor2", Role.SUPERVISOR, teams["sales"])
    teams["service"].supervisor = teams["care"].supervisor = sup1
    teams["sales"].supervisor = sup2
    for team in teams.values():
        team.save()
    person("ops.admin", Role.ADMIN, None)
    person("analyst", Role.ANALYST, None)
    skills = {
        "service": (["zh-hans"], ["家电", "数码", "个护"]),
        "sales": (["zh-hans", "en"], ["订阅", "续费"]),
        "care": (["zh-hans"], ["诊疗", "美妆", "母婴"]),
    }
    by_team: dict[str, list[int]] = {}
    for number in range(12):
        key = data.TEAMS[number % 3][0]
        languages, categories = skills[key]
        agent = person(
            f"agent{number + 1:02d}",
            Role.AGENT,
            teams[key],
            languages=languages if number % 4 else ["zh-hans"],
            product_categories=categories,
            regions=[data.REGIONS[number][0]],
            daily_capacity=25 + 5 * (number % 3),
            supervisor=teams[key].supervisor,
        )
        by_team.setdefault(key, []).append(agent.pk)
    return by_team


def _ensure_tags() -> list[int]:
    Tag.objects.bulk_create([Tag(name=name) for name in data.TAGS], ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=data.TAGS).values_list("id", flat=True))


def _chunks(specs: list[ChunkSpec], parallel: bool) -> Iterator[Chunk]:
    if not parallel or len(specs) < 2:
        yield from map(make_chunk, specs)
        return
    # Forked children make the chunks while the parent writes; the parent keeps its database
    # connection to itself.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        yield from pool.map(make_chunk, specs)


def generate(
    *,
    customers: int = 2000,
    industry: str = "all",
    seed: int = 42,
    now: datetime | None = None,
    log: Callable[[str], None] = print,
    parallel: bool = True,
) -> DemoStats:
    if industry != "all" and industry not in INDUSTRIES:
        raise DemoError(f"unknown industry {industry!r}; use retail, saas, clinic or all")
    if customers < 0:
        raise DemoError("--customers must not be negative")
    started = time.perf_counter()
    now = now or timezone.now()
    if Customer.objects.filter(external_id__startswith=f"DEMO{seed}-").exists():
        raise DemoError(f"demo data with seed {seed} is already loaded; choose another --seed")
    writer = BulkWriter(connection)
    events_total = 0
    loaded = (Customer, Event, Consent, Customer.tags.through)
    with writer.loading(*loaded):
        by_team = _ensure_staff(random.Random(seed))
        tag_ids = _ensure_tags()
        writer.lock(Customer._meta.db_table)
        first_id = (Customer.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        big_load = customers >= 50_000 and customers >= Customer.objects.count()
        pools = _pools(seed)
        specs = [
            ChunkSpec(
                seed=seed,
                number=start,
                count=min(CHUNK, customers - start),
                first_id=first_id + start,
                industries=INDUSTRIES if industry == "all" else (industry,),
                now=int(now.astimezone(UTC).timestamp()),
                owners=by_team,
                tag_ids=tag_ids,
                postgres=writer.postgres,
                pools=pools,
            )
            for start in range(0, customers, CHUNK)
        ]
        with writer.deferred_indexes(*loaded, enabled=big_load):
            for chunk in _chunks(specs, parallel):
                writer.insert(Customer._meta.db_table, chunk.customer_columns, chunk.customers)
                writer.insert(Event._meta.db_table, chunk.event_columns, chunk.events)
                writer.insert(Consent._meta.db_table, chunk.consent_columns, chunk.consents)
                writer.insert(
                    Customer.tags.through._meta.db_table, ["customer_id", "tag_id"], chunk.tags
                )
                events_total += chunk.event_count
                log(f"  {chunk.last_number:,} customers, {events_total:,} events")
        writer.reset_sequences(list(loaded))
    load_library()  # the ready strategies, as drafts to look at and switch on
    answered = answer_demo_surveys(seed, now)
    log(f"  {answered.responses:,} questionnaire responses, {answered.sent:,} links sent")
    open_demo_tasks(seed, now)
    history = write_demo_history(seed, now, customers)
    log(
        f"  {history.messages:,} follow-up messages ({history.clicks:,} clicks, "
        f"{history.replies:,} replies), {history.tasks:,} follow-up tasks over {DAYS} days, "
        f"{history.purchases:,} purchases after them"
    )
    events_total += history.purchases
    # The cockpit reads the daily rollups only: build them over the whole history now, so
    # its figures show on first open rather than after the nightly rebuild.
    rebuilt = rebuild(None, None, now)
    log(f"  {rebuilt.rows:,} report rollup rows over {len(rebuilt.days):,} days")
    return DemoStats(customers, events_total, 16, time.perf_counter() - started)
