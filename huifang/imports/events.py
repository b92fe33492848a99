"""Importing events (orders, tickets, contracts …): a file kept as a draft, checked (the dry run),
written chunk by chunk through the customers app's ``record_events`` (so the customers' order
count, spend and last purchase follow, and — only when the import says so — rules hear of
them), and undone. ``services`` hands an import of events to this module."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core import rows as row_sql
from huifang.customers.events import record_events
from huifang.customers.models import Customer, Event
from huifang.customers.pii import mask_email

from . import values
from .event_rows import Head, Options, Planned, Planner, check_options, mapping_from, read
from .event_undo import take_back
from .mapping import EVENT_CUSTOMER_KEYS, EVENT_TARGETS, HEADER_SEARCH, header_row, suggest
from .models import Change, Import, ImportedEvent
from .models import Problem as StoredProblem
from .planning import MappingRefused, Problem
from .reading import FileRefused, column_name, count_rows, open_rows

BATCH = 500
PREVIEW_ROWS = 20
COUNTS = ("added", "repeated", "customers", "refused")


@dataclass
class Outcome:
    """What an import of events did, or would do (``counts``: events ``added``, rows
    ``repeated`` — imported before, or earlier in the file —, ``customers`` added, rows
    ``refused``)."""

    head: Head
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    preview: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # when kept (the command line)


def plan_options(
    headers: list[str],
    *,
    mapping: Mapping[str, str] | None = None,
    event_type: str = "",
    match_on: Sequence[str] = EVENT_CUSTOMER_KEYS,
    create_customers: bool = False,
) -> Options:
    """The options of an import from what a user or a mapping file chose (columns by header
    or letter); ``MappingRefused`` for options it cannot run with."""
    options = Options(mapping_from(headers, mapping), event_type, tuple(match_on), create_customers)
    check_options(options)
    return options


def _batch_options(batch: Import) -> Callable[[list[str]], Options]:
    def choose(headers: list[str]) -> Options:
        return plan_options(
            headers,
            mapping=batch.mapping,
            event_type=batch.event_type,
            match_on=batch.match_on,
            create_customers=batch.create_customers,
        )

    return choose


def walk(
    path: Path | str,
    *,
    name: str | None = None,
    choose: Callable[[list[str]], Options],
    batch: Import | None = None,
    write: bool = False,
    fire_rules: bool = False,
    keep_problems: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Read the file chunk by chunk and plan each chunk; with ``write``, write it too (one
    transaction a chunk). Refused rows go to the batch's problems (and, with
    ``keep_problems``, to the outcome). Raises ``FileRefused`` / ``MappingRefused``."""
    now = now or timezone.now()
    head, chunks = read(path, name=name, choose=choose)
    outcome = Outcome(head)
    planner = Planner(head, now=now)
    done = 0
    for chunk in chunks:
        problems: list[Problem] = []
        planned = planner.plan(chunk, problems)
        if write:
            assert batch is not None
            _write(batch, planned, fire_rules=fire_rules, now=now)
        _count(outcome, planned, problems)
        if batch is not None:
            _store_problems(batch, problems)
        if keep_problems:
            outcome.problems += problems
        done += len(chunk)
        if batch is not None:
            Import.objects.filter(pk=batch.pk).update(done_rows=done, beat_at=timezone.now())
    return outcome


def _count(outcome: Outcome, planned: list[Planned], problems: list[Problem]) -> None:
    counted = Counter("repeated" if p.repeated else "added" for p in planned)
    for key in ("added", "repeated"):
        outcome.counts[key] += counted[key]
    outcome.counts["customers"] += sum(1 for p in planned if p.added_by == p.row)
    outcome.counts["refused"] += len({p.row for p in problems})
    room = PREVIEW_ROWS - len(outcome.preview)
    outcome.preview += [p.shown() for p in planned[:room]]


# -- writing ------------------------------------------------------------------------------------


def _write(batch: Import, planned: list[Planned], *, fire_rules: bool, now: datetime) -> None:
    """One chunk, in one transaction: the customers it adds, its events (through
    ``record_events``: figures refreshed; rules told only with ``fire_rules``), and what undo
    needs to take them back."""
    with transaction.atomic():
        made = _add_customers(batch, [p for p in planned if p.added_by == p.row], now)
        for p in planned:
            if p.customer is None:
                p.customer = made[p.added_by] if p.added_by in made else _find(p)
        fresh = [p for p in planned if not p.repeated]
        try:
            with transaction.atomic():
                stored = _record(fresh, fire_rules, now)
        except IntegrityError:
            # Another import or the API stored one of these keys since the chunk was planned.
            there = set(
                Event.objects.filter(idempotency_key__in=[p.key for p in fresh]).values_list(
                    "idempotency_key", flat=True
                )
            )
            for p in fresh:
                p.repeated = p.key in there
            fresh = [p for p in fresh if not p.repeated]
            stored = _record(fresh, fire_rules, now)
        # Below the ORM (``core.rows``): one row per event of a file of a million.
        row_sql.insert(
            [
                ImportedEvent(
                    batch_id=batch.pk, event_id=event.pk, customer_id=event.customer_id, row=p.row
                )
                for p, event in zip(fresh, stored, strict=True)
            ]
        )


def _record(planned: list[Planned], fire_rules: bool, now: datetime) -> list[Event]:
    events = []
    for p in planned:
        assert p.customer is not None
        events.append(p.event(p.customer))
    return record_events(events, now=now, notify=fire_rules)


def _find(planned: Planned) -> int:
    """The customer an earlier chunk added for this row's keys (it is in the database now)."""
    for key in EVENT_CUSTOMER_KEYS:
        if planned.who.get(key):
            found = Customer.objects.filter(**{key: planned.who[key]}).order_by("pk").first()
            if found is not None:
                return found.pk
    raise IntegrityError(f"row {planned.row}: its customer is gone")


def _add_customers(batch: Import, adding: list[Planned], now: datetime) -> dict[int, int]:
    """The customers these rows add (by the row that adds them), recorded for undo."""
    made = [
        Customer(
            name=p.who["name"],
            external_id=p.who.get("external_id") or None,
            phone=p.who.get("phone", ""),
            email=p.who.get("email", ""),
            created_at=now,
            updated_at=now,
        )
        for p in adding
    ]
    Customer.objects.bulk_create(made, batch_size=BATCH)
    Change.objects.bulk_create(
        [
            Change(batch=batch, customer=customer, row=p.row, created=True, after=dict(p.who))
            for p, customer in zip(adding, made, strict=True)
        ],
        batch_size=BATCH,
    )
    return {p.row: customer.pk for p, customer in zip(adding, made, strict=True)}


def _store_problems(batch: Import, problems: list[Problem]) -> None:
    StoredProblem.add(batch, problems)


# -- the page's and the command line's jobs -----------------------------------------------------


def run(
    path: Path | str,
    *,
    name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    event_type: str = "",
    match_on: Sequence[str] = EVENT_CUSTOMER_KEYS,
    create_customers: bool = False,
    fire_rules: bool = False,
    dry_run: bool = False,
    actor: Any = None,
    now: datetime | None = None,
) -> tuple[Outcome, Import | None]:
    """``huifang import events``: plan the file (``dry_run``: nothing is written) or import it
    as one batch. ``FileRefused`` / ``MappingRefused`` before anything is written."""
    now = now or timezone.now()

    def choose(headers: list[str]) -> Options:
        return plan_options(
            headers,
            mapping=mapping,
            event_type=event_type,
            match_on=match_on,
            create_customers=create_customers,
        )

    file_name = Path(name or str(path)).name
    if dry_run:
        return walk(path, name=name, choose=choose, keep_problems=True, now=now), None
    # A file or options that cannot be imported are refused before a batch exists.
    head_rows = list(islice(open_rows(path, name=name), HEADER_SEARCH))
    top = header_row(head_rows, EVENT_TARGETS)
    options = choose([values.text(c.value) for c in head_rows[top]] if head_rows else [])
    batch = Import.objects.create(
        kind=Import.Kind.EVENTS,
        file_name=file_name[:255],
        status=Import.Status.RUNNING,
        policy=Import.Policy.SKIP,
        match_on=list(options.match_on),
        mapping=_letters(options.mapping),
        header_row=top + 1,
        event_type=event_type,
        fire_rules=fire_rules,
        create_customers=create_customers,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        started_at=now,
        beat_at=now,
    )
    outcome = _execute(
        batch, path, name=name, choose=choose, actor=actor, now=now, keep_problems=True
    )
    return outcome, batch


def _letters(mapping: dict[int, str]) -> dict[str, str]:
    return {column_name(i + 1): key for i, key in sorted(mapping.items())}


def _execute(
    batch: Import,
    path: Path | str,
    *,
    name: str | None,
    choose: Callable[[list[str]], Options],
    actor: Any,
    now: datetime,
    keep_problems: bool = False,
) -> Outcome:
    """Write the file as one batch, chunk by chunk; a failure takes back what was written and
    says why. Either way the import is one batch: done and undoable, or failed and gone."""
    StoredProblem.objects.filter(batch=batch).delete()
    try:
        outcome = walk(
            path,
            name=name,
            choose=choose,
            batch=batch,
            write=True,
            fire_rules=batch.fire_rules,
            keep_problems=keep_problems,
            now=now,
        )
    except Exception as exc:
        fail(batch, str(exc), now)
        raise
    with transaction.atomic():
        Import.objects.filter(pk=batch.pk).update(
            status=Import.Status.DONE,
            counts=outcome.counts,
            total_rows=sum(outcome.counts[k] for k in ("added", "repeated", "refused")),
            finished_at=timezone.now(),
            data=None,
        )
        record(
            Entry.Action.CUSTOMER,
            "imported",
            actor=actor,
            target=batch,
            details={"kind": "events", "counts": outcome.counts, "fire_rules": batch.fire_rules},
            at=now,
        )
    batch.refresh_from_db()
    return outcome


def fail(batch: Import, reason: str, now: datetime) -> None:
    """An import that stopped part-way: what it wrote is taken back, and it says why."""
    with transaction.atomic():
        take_back(batch, now)
        Import.objects.filter(pk=batch.pk).update(
            status=Import.Status.FAILED, error=reason[:500], finished_at=now, data=None
        )


PERSONAL_SAMPLE = 7  # digits from which a number in a sample cell is masked as a phone


def _sample(value: str) -> str:
    """A cell shown to recognise its column by, before the columns are chosen: what looks like
    an e-mail address or a phone number is masked."""
    if "@" in value:
        return mask_email(value)
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) > PERSONAL_SAMPLE and digits == value.replace(" ", "").lstrip("+"):
        return f"{digits[:3]}****{digits[-4:]}"
    return value


@contextmanager
def _temporary(name: str, data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="huifang-import-") as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        path.write_bytes(data)
        path.chmod(0o600)
        yield path


def upload(name: str, data: bytes, *, actor: Any = None, now: datetime | None = None) -> Import:
    """Keep an uploaded events file as a draft, with its headers, a few rows to recognise the
    columns by and the columns suggested; ``FileRefused`` keeps nothing."""
    with _temporary(name, data) as path:
        first = list(islice(open_rows(path, name=name), HEADER_SEARCH + 5))
        top = header_row(first, EVENT_TARGETS)
        headers = [values.text(c.value) for c in first[top]] if first else []
        if not any(headers):
            raise FileRefused(_("The file has no header row with column names."))
        samples = [
            [_sample(values.text(c.value)[:60]) for c in row] for row in first[top + 1 : top + 4]
        ]
        total = max(0, count_rows(path, name=name) - top - 1)
    return Import.objects.create(
        kind=Import.Kind.EVENTS,
        file_name=Path(name).name[:255],
        status=Import.Status.DRAFT,
        policy=Import.Policy.SKIP,
        match_on=list(EVENT_CUSTOMER_KEYS),
        mapping=_letters(suggest(headers, EVENT_TARGETS)),
        header_row=top + 1,
        data=data,
        summary={"headers": headers, "samples": samples},
        total_rows=total,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now or timezone.now(),
    )


def check(batch: Import) -> None:
    """The dry run, for the page: counts, refused rows and the first rows; nothing else is
    written. A file or columns that do not work send the import back to its columns."""
    Import.objects.filter(pk=batch.pk).update(done_rows=0, error="", beat_at=timezone.now())
    assert batch.data is not None
    with transaction.atomic():
        StoredProblem.objects.filter(batch=batch).delete()
    try:
        with _temporary(batch.file_name, bytes(batch.data)) as path:
            outcome = walk(path, name=batch.file_name, choose=_batch_options(batch), batch=batch)
    except (FileRefused, MappingRefused) as exc:
        with transaction.atomic():
            StoredProblem.objects.filter(batch=batch).delete()  # of the chunks read before
            Import.objects.filter(pk=batch.pk).update(
                status=Import.Status.DRAFT, error=str(exc)[:500]
            )
        return
    rows = sum(outcome.counts[k] for k in ("added", "repeated", "refused"))
    Import.objects.filter(pk=batch.pk).update(
        status=Import.Status.CHECKED,
        counts=outcome.counts,
        total_rows=rows,
        done_rows=rows,
        summary={**batch.summary, "preview": outcome.preview},
    )


def execute(batch: Import, *, actor: Any = None) -> None:
    """The import itself, planned again from the file as it is written (customers and events
    may have changed since the check)."""
    assert batch.data is not None
    now = timezone.now()
    Import.objects.filter(pk=batch.pk).update(
        status=Import.Status.RUNNING, done_rows=0, started_at=now, beat_at=now
    )
    with _temporary(batch.file_name, bytes(batch.data)) as path:
        try:
            _execute(
                batch,
                path,
                name=batch.file_name,
                choose=_batch_options(batch),
                actor=actor or batch.created_by,
                now=now,
            )
        except (FileRefused, MappingRefused):
            return  # taken back; the import says it failed, and why
