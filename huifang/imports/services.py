"""Importing customers: a file kept as a draft, checked (the dry run), written as one batch in
chunks with its progress, and undone."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core import rows as row_sql
from huifang.customers.models import Customer, Event, Tag
from huifang.customers.phones import mask_phone
from huifang.customers.pii import mask_email, mask_text
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from . import event_undo, events, values
from .mapping import HEADER_SEARCH, header_row, suggest
from .models import Change, Import
from .models import Problem as StoredProblem
from .planning import (
    COLUMNS,
    MATCH_KEYS,
    MappingRefused,
    Plan,
    Planned,
    Problem,
    open_plan,
    plain,
)
from .reading import FileRefused, column_name, count_rows, open_rows

BATCH = 500
CHUNK = 2000  # rows a transaction: an import of a million rows never holds the database long


def run(plan: Plan, *, actor: Any = None, now: datetime | None = None) -> Import:
    """Import a file (``huifang import``): one batch, written as ``write`` does, from the
    file ``plan`` was opened on (``open_plan``, or ``plan_file`` after a dry run)."""
    now = now or timezone.now()
    batch = Import.objects.create(
        kind=Import.Kind.CUSTOMERS,
        file_name=plan.file_name[:255],
        status=Import.Status.RUNNING,
        policy=plan.policy,
        match_on=plan.match_on,
        mapping=letters(plan.mapping),
        header_row=plan.header_row,
        total_rows=_rows_in(plan),
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        started_at=now,
    )
    write(batch, plan, actor=actor, now=now)
    return batch


def _rows_in(plan: Plan) -> int:
    assert plan.path is not None
    return max(0, count_rows(plan.path, name=plan.name) - plan.header_row)


def letters(mapping: dict[int, str]) -> dict[str, str]:
    return {column_name(i + 1): key for i, key in sorted(mapping.items())}


def write(batch: Import, plan: Plan, *, actor: Any = None, now: datetime | None = None) -> None:
    """Plan and write the file ``CHUNK`` rows a transaction, saying how far it got after each
    (the page's progress bar); a failure takes back what was written and says why. Either
    way the import is one batch: done and undoable, or failed and gone."""
    now = now or timezone.now()
    Import.objects.filter(pk=batch.pk).update(
        status=Import.Status.RUNNING, done_rows=0, started_at=now, beat_at=timezone.now()
    )
    StoredProblem.objects.filter(batch=batch).delete()
    try:
        for chunk in plan.chunks(writing=True):
            with transaction.atomic():
                rows = chunk.rows
                new = [p for p in rows if p.customer is None]
                changed = [p for p in rows if p.customer is not None and p.changes]
                assert not any(p.made for p in rows)
                changes = {**_create(new, batch, now), **_update(changed, batch, now)}
                _tag(rows, changes, batch)
                row_sql.insert_values(Change, list(changes.values()))
                _store_problems(batch, plan, chunk.problems)
                Import.objects.filter(pk=batch.pk).update(
                    done_rows=chunk.read, beat_at=timezone.now()
                )
    except Exception as exc:
        _revert(batch)
        Import.objects.filter(pk=batch.pk).update(
            status=Import.Status.FAILED,
            error=str(exc)[:500],
            finished_at=timezone.now(),
            data=None,
        )
        raise
    with transaction.atomic():
        Import.objects.filter(pk=batch.pk).update(
            status=Import.Status.DONE, counts=plan.counts, finished_at=timezone.now(), data=None
        )
        record(
            Entry.Action.CUSTOMER,
            "imported",
            actor=actor,
            target=batch,
            details={"counts": plan.counts, "policy": plan.policy, "match_on": plan.match_on},
            at=now,
        )
    batch.refresh_from_db()


def _revert(batch: Import) -> None:
    """Take back the chunks a failed import wrote."""
    through = Customer.tags.through
    with transaction.atomic():
        made = set(
            Change.objects.filter(batch=batch, created=True).values_list("customer_id", flat=True)
        )
        changed = Change.objects.filter(batch=batch, created=False).select_related("customer")
        for change in changed.exclude(customer_id__in=made).iterator(chunk_size=BATCH):
            if change.customer is None:
                continue
            if tags := change.after.get("tags"):
                through.objects.filter(customer=change.customer, tag__name__in=tags).delete()
            _restore(change.customer, change)
        _delete_customers(sorted(made - {None}))
        Change.objects.filter(batch=batch).delete()


def _delete_customers(customers: list[int]) -> None:
    for start in range(0, len(customers), BATCH):
        Customer.objects.filter(pk__in=customers[start : start + BATCH]).delete()


def _customer_values(planned: Planned) -> tuple[dict[str, Any], dict[str, Any]]:
    columns = {k: v for k, v in planned.values.items() if k in COLUMNS or k == "owner_id"}
    attributes = {
        k.split(".", 1)[1]: v for k, v in planned.values.items() if k.startswith("attributes.")
    }
    return columns, attributes


def _change(batch: Import, customer: int, row: int, *, created: bool = False) -> dict[str, Any]:
    """A ``Change`` as a row to insert (a million rows make no model instances)."""
    return {
        "batch_id": batch.pk,
        "customer_id": customer,
        "row": row,
        "created": created,
        "before": {},
        "after": {},
    }


def _create(planned: list[Planned], batch: Import, now: datetime) -> dict[int, dict[str, Any]]:
    rows = []
    for p in planned:
        columns, attributes = _customer_values(p)
        rows.append({**columns, "attributes": attributes, "created_at": now, "updated_at": now})
    # Far cheaper than making forty-column instances for bulk_create.
    made = row_sql.insert_values(Customer, rows)
    for p, pk in zip(planned, made, strict=True):
        p.made = pk  # later rows of the file merge into them
    return {
        p.row: _change(batch, pk, p.row, created=True) for p, pk in zip(planned, made, strict=True)
    }


def _update(planned: list[Planned], batch: Import, now: datetime) -> dict[int, dict[str, Any]]:
    changed: dict[int, dict[str, Any]] = {}
    fields: set[str] = {"updated_at"}
    customers = []
    for p in planned:
        customer = p.customer
        assert customer is not None
        for key, (_before, after) in p.changes.items():
            if key.startswith("attributes."):
                customer.attributes = {**(customer.attributes or {}), key.split(".", 1)[1]: after}
                fields.add("attributes")
            else:
                setattr(customer, key, after)
                fields.add("owner" if key == "owner_id" else key)
        customer.updated_at = now
        customers.append(customer)
        changed[p.row] = {
            **_change(batch, customer.pk, p.row),
            "before": plain({k: b for k, (b, _a) in p.changes.items()}),
            "after": plain({k: a for k, (_b, a) in p.changes.items()}),
        }
    for start in range(0, len(customers), BATCH):
        row_sql.write(customers[start : start + BATCH], sorted(fields))
    return changed


def _tag(planned: list[Planned], changes: dict[int, dict[str, Any]], batch: Import) -> None:
    wanted = {name for p in planned for name in p.tags}
    if not wanted:
        return
    Tag.objects.bulk_create([Tag(name=n) for n in sorted(wanted)], ignore_conflicts=True)
    tags = dict(Tag.objects.filter(name__in=wanted).values_list("name", "pk"))
    through = Customer.tags.through
    links = []
    for p in planned:
        if not p.tags:
            continue
        change = changes.get(p.row)
        customer = change["customer_id"] if change is not None else p.customer_id
        assert customer is not None
        links += [through(customer_id=customer, tag_id=tags[name]) for name in p.tags]
        if change is None:  # only tags were added: still a change, for undo
            change = changes[p.row] = _change(batch, customer, p.row)
        change["after"] = {**change["after"], "tags": p.tags}
    through.objects.bulk_create(links, batch_size=BATCH, ignore_conflicts=True)


@dataclass
class Undone:
    removed: int = 0
    restored: int = 0
    kept: list[int] = field(default_factory=list)  # rows left as they are, and why below
    reasons: dict[int, str] = field(default_factory=dict)


def undo(
    batch: Import, *, actor: Any = None, now: datetime | None = None
) -> Undone | event_undo.Undone:
    """Take the import back: the customers it made go (unless something happened to them
    since — an event, a message, a task, a plan: those stay), the ones it changed get their
    earlier values back (a field changed again since keeps the newer value), and the tags it
    added come off."""
    if batch.kind == Import.Kind.EVENTS:
        return event_undo.undo(batch, actor=actor, now=now)
    now = now or timezone.now()
    result = Undone()
    with transaction.atomic():
        batch = Import.objects.select_for_update().get(pk=batch.pk)
        if batch.status == Import.Status.UNDONE:
            return result
        changes = list(batch.changes.select_related("customer"))
        through = Customer.tags.through
        made = [c for c in changes if c.created and c.customer_id is not None]
        active = _busy([c.customer_id for c in made if c.customer_id is not None])
        for change in made:
            if change.customer_id in active:
                result.kept.append(change.row)
                result.reasons[change.row] = _("Something happened to this customer since.")
        removed = {c.customer_id for c in made if c.customer_id not in active}
        _delete_customers(sorted(i for i in removed if i is not None))
        result.removed = len(made) - len(result.kept)
        for change in changes:
            if change.created or change.customer is None or change.customer_id in removed:
                continue
            customer = change.customer
            tags = change.after.get("tags") or []
            if tags:
                through.objects.filter(customer_id=customer.pk, tag__name__in=tags).delete()
            restored = _restore(customer, change)
            if restored is None:
                result.kept.append(change.row)
                result.reasons[change.row] = _("Changed again since the import.")
            else:
                result.restored += 1
        batch.status, batch.undone_at = Import.Status.UNDONE, now
        batch.undone_by = actor if getattr(actor, "pk", None) else None
        batch.save(update_fields=["status", "undone_at", "undone_by"])
        record(
            Entry.Action.CUSTOMER,
            "import undone",
            actor=actor,
            target=batch,
            details={
                "removed": result.removed,
                "restored": result.restored,
                "kept": len(result.kept),
            },
            at=now,
        )
    return result


def _busy(customers: list[int]) -> set[int]:
    """Customers who have had something since they were made: an event, a message, a task or
    a plan. Undo keeps them (removing them would take that with them)."""
    since = (
        Event.objects.filter(customer_id=OuterRef("pk")),
        Message.objects.filter(customer_id=OuterRef("pk")),
        Task.objects.filter(customer_id=OuterRef("pk")),
        Enrollment.objects.filter(customer_id=OuterRef("pk")),
    )
    found: set[int] = set()
    for start in range(0, len(customers), BATCH):
        chunk = Customer.objects.filter(pk__in=customers[start : start + BATCH])
        for related in since:
            found |= set(chunk.filter(Exists(related)).values_list("pk", flat=True))
    return found


def _restore(customer: Customer, change: Change) -> bool | None:
    """Put back the fields this import changed; ``None`` when one was changed again since
    (then nothing of this row is put back)."""
    fields: list[str] = []
    for key, after in change.after.items():
        if key == "tags":
            continue
        now_value = plain(_get(customer, key))
        if now_value != after:
            return None
    for key, before in change.before.items():
        if key.startswith("attributes."):
            attributes = dict(customer.attributes or {})
            if before is None:
                attributes.pop(key.split(".", 1)[1], None)
            else:
                attributes[key.split(".", 1)[1]] = before
            customer.attributes = attributes
            fields.append("attributes")
        else:
            model_field = Customer._meta.get_field("owner" if key == "owner_id" else key)
            setattr(customer, key, model_field.to_python(before))  # type: ignore[union-attr]
            fields.append("owner" if key == "owner_id" else key)
    if fields:
        customer.save(update_fields=sorted(set(fields)))
    return True


def _get(customer: Customer, key: str) -> Any:
    if key.startswith("attributes."):
        return (customer.attributes or {}).get(key.split(".", 1)[1])
    return getattr(customer, key)


# -- the import page's jobs (``tasks.py`` runs them on a worker) ----------------------------------

PERSONAL = {"phone": mask_phone, "email": mask_email}
PREVIEW_ROWS = 20


def upload(
    name: str,
    data: bytes,
    *,
    kind: str = Import.Kind.CUSTOMERS,
    actor: Any = None,
    now: datetime | None = None,
) -> Import:
    """Keep an uploaded file as a draft import, with its headers, a few rows to recognise the
    columns by, and the suggested columns; a file that cannot be imported is refused
    (``FileRefused``) and nothing is kept."""
    if kind == Import.Kind.EVENTS:
        return events.upload(name, data, actor=actor, now=now)
    with _temporary(name, data) as path:
        first = list(islice(open_rows(path, name=name), HEADER_SEARCH + 5))
        top = header_row(first)
        headers = [values.text(c.value) for c in first[top]] if first else []
        if not any(headers):
            raise FileRefused(_("The file has no header row with column names."))
        samples = [
            [_sample(values.text(c.value)[:60]) for c in row] for row in first[top + 1 : top + 4]
        ]
        total = max(0, count_rows(path, name=name) - top - 1)
    return Import.objects.create(
        kind=Import.Kind.CUSTOMERS,
        file_name=Path(name).name[:255],
        status=Import.Status.DRAFT,
        policy=Import.Policy.FILL_EMPTY,
        match_on=list(MATCH_KEYS),
        mapping=letters(suggest(headers)),
        header_row=top + 1,
        data=data,
        summary={"headers": headers, "samples": samples},
        total_rows=total,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now or timezone.now(),
    )


_NUMBER = re.compile(r"^[\d\s+\-()（）]{7,}$")


def _sample(value: str) -> str:
    """A cell shown to recognise its column by: what looks like a phone number or an e-mail
    address is masked (the columns are not chosen yet, so their content decides)."""
    if "@" in value:
        return mask_email(value)
    if _NUMBER.match(value) and not values.looks_like_a_day(value):
        digits = re.sub(r"\D", "", value)
        return f"{digits[:3]}****{digits[-4:]}" if len(digits) > 7 else "****"
    return value


@contextmanager
def _temporary(name: str, data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="huifang-import-") as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        path.write_bytes(data)
        path.chmod(0o600)
        yield path


@contextmanager
def _opened(batch: Import) -> Iterator[Plan]:
    """The batch's file, planned with its columns and options (``open_plan``)."""
    assert batch.data is not None
    with _temporary(batch.file_name, bytes(batch.data)) as path:
        yield open_plan(
            path,
            name=batch.file_name,
            mapping=batch.mapping,
            policy=batch.policy,
            match_on=batch.match_on,
        )


def _progress(batch: Import, rows: int) -> None:
    Import.objects.filter(pk=batch.pk).update(done_rows=rows, beat_at=timezone.now())


def check(batch: Import) -> None:
    """The dry run: what the import would do, row by row, for the page (nothing else is
    written). A file or columns that do not work send the import back to its columns, with
    the reason."""
    if batch.kind == Import.Kind.EVENTS:
        return events.check(batch)
    Import.objects.filter(pk=batch.pk).update(done_rows=0, error="", beat_at=timezone.now())
    try:
        with _opened(batch) as plan:
            StoredProblem.objects.filter(batch=batch).delete()
            read = 0
            for chunk in plan.chunks(progress=lambda n: _progress(batch, n)):
                _store_problems(batch, plan, chunk.problems)
                read = chunk.read
    except (FileRefused, MappingRefused) as exc:
        StoredProblem.objects.filter(batch=batch).delete()
        Import.objects.filter(pk=batch.pk).update(status=Import.Status.DRAFT, error=str(exc)[:500])
        return
    Import.objects.filter(pk=batch.pk).update(
        status=Import.Status.CHECKED,
        counts=plan.counts,
        total_rows=read,
        done_rows=read,
        summary={**batch.summary, "preview": _masked_preview(plan)},
    )


def execute(batch: Import, *, actor: Any = None) -> None:
    """The import itself, planned again from the file (customers may have changed since the
    check) as it is written (``write``)."""
    if batch.kind == Import.Kind.EVENTS:
        return events.execute(batch, actor=actor)
    with ExitStack() as stack:
        try:
            plan = stack.enter_context(_opened(batch))
        except (FileRefused, MappingRefused) as exc:
            Import.objects.filter(pk=batch.pk).update(
                status=Import.Status.CHECKED, error=str(exc)[:500]
            )
            return
        try:
            write(batch, plan, actor=actor or batch.created_by)
        except (FileRefused, MappingRefused):
            return  # ``write`` took back what it wrote and said why the import failed


def _store_problems(batch: Import, plan: Plan, problems: list[Problem]) -> None:
    """Refused cells, for the page and the error report (read later, by others too:
    personal values masked)."""
    for problem in problems:
        _mask_problem(plan, problem)
    StoredProblem.add(batch, problems)


def _mask_problem(plan: Plan, problem: Problem) -> None:
    """A refused cell as the report shows it: a phone or e-mail column's value masked, in the
    reason too (the reason often quotes it)."""
    index = next((i for i in plan.mapping if column_name(i + 1) == problem.column), None)
    if index is None or plan.mapping[index] not in PERSONAL or not problem.value:
        return
    masked = mask_text(problem.value)
    problem.reason = problem.reason.replace(problem.value, masked)
    problem.value = masked


def _masked_preview(plan: Plan) -> list[dict[str, Any]]:
    rows = plan.preview(PREVIEW_ROWS)
    for row in rows:
        for key, mask in PERSONAL.items():
            if row["values"].get(key):
                row["values"][key] = mask(row["values"][key])
            if key in row["changes"]:
                row["changes"][key] = [mask(v) if v else v for v in row["changes"][key]]
    return rows


# A worker says how far it got at least every few thousand rows; silent this long, it has died.
STALLED = timedelta(minutes=15)


def recover_stalled(now: datetime | None = None) -> int:
    """Imports whose worker died part-way: a check goes back to its columns, an import takes
    back what it wrote and says it failed. Returns how many were recovered."""
    now = now or timezone.now()
    quiet = now - STALLED
    checks = Import.objects.filter(status=Import.Status.CHECKING, beat_at__lt=quiet).update(
        status=Import.Status.DRAFT,
        error=_("The check stopped part-way (its worker stopped); check again."),
    )
    recovered = checks
    for batch in Import.objects.filter(status=Import.Status.RUNNING, beat_at__lt=quiet).defer(
        "data"
    ):
        if batch.kind == Import.Kind.EVENTS:
            event_undo.take_back(batch, now)
        else:
            _revert(batch)
        Import.objects.filter(pk=batch.pk).update(
            status=Import.Status.FAILED,
            error=_(
                "The import stopped part-way (its worker stopped); what it had written was "
                "taken back. Upload the file again to import it."
            ),
            finished_at=now,
            data=None,
        )
        recovered += 1
    return recovered
