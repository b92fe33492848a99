"""Writing a planned import as one batch, and undoing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core import rows as row_sql
from huifang.customers.models import Customer, Event, Tag
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from .models import Change, Import
from .models import Problem as StoredProblem
from .planning import COLUMNS, Plan, Planned, _plain
from .reading import column_name

BATCH = 500


def run(plan: Plan, *, actor: Any = None, now: datetime | None = None) -> Import:
    """Write every planned row in one transaction: all of it or, on any error, nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = Import.objects.create(
            kind=Import.Kind.CUSTOMERS,
            file_name=plan.file_name[:255],
            status=Import.Status.DONE,
            policy=plan.policy,
            match_on=plan.match_on,
            mapping={column_name(i + 1): key for i, key in sorted(plan.mapping.items())},
            header_row=plan.header_row,
            counts=plan.counts,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now,
        )
        changes = {
            **_create([p for p in plan.rows if p.customer is None], batch, now),
            **_update([p for p in plan.rows if p.customer is not None and p.changes], batch, now),
        }
        _tag(plan.rows, changes, batch)
        Change.objects.bulk_create(list(changes.values()), batch_size=BATCH)
        StoredProblem.objects.bulk_create(
            [
                StoredProblem(
                    batch=batch,
                    row=p.row,
                    column=p.column,
                    header=p.header[:200],
                    value=p.value[:200],
                    reason=p.reason[:500],
                )
                for p in plan.problems
            ],
            batch_size=BATCH,
        )
        record(
            Entry.Action.CUSTOMER,
            "imported",
            actor=actor,
            target=batch,
            details={"counts": plan.counts, "policy": plan.policy, "match_on": plan.match_on},
            at=now,
        )
    return batch


def _customer_values(planned: Planned) -> tuple[dict[str, Any], dict[str, Any]]:
    columns = {k: v for k, v in planned.values.items() if k in COLUMNS or k == "owner_id"}
    attributes = {
        k.split(".", 1)[1]: v for k, v in planned.values.items() if k.startswith("attributes.")
    }
    return columns, attributes


def _create(planned: list[Planned], batch: Import, now: datetime) -> dict[int, Change]:
    made = []
    for p in planned:
        columns, attributes = _customer_values(p)
        made.append(Customer(attributes=attributes, created_at=now, updated_at=now, **columns))
    Customer.objects.bulk_create(made, batch_size=BATCH)
    return {
        p.row: Change(
            batch=batch,
            customer=customer,
            row=p.row,
            created=True,
            after=_plain({k: v for k, v in p.values.items() if k != "tags"}),
        )
        for p, customer in zip(planned, made, strict=True)
    }


def _update(planned: list[Planned], batch: Import, now: datetime) -> dict[int, Change]:
    changed: dict[int, Change] = {}
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
        changed[p.row] = Change(
            batch=batch,
            customer=customer,
            row=p.row,
            created=False,
            before=_plain({k: b for k, (b, _a) in p.changes.items()}),
            after=_plain({k: a for k, (_b, a) in p.changes.items()}),
        )
    for start in range(0, len(customers), BATCH):
        row_sql.write(customers[start : start + BATCH], sorted(fields))
    return changed


def _tag(planned: list[Planned], changes: dict[int, Change], batch: Import) -> None:
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
        customer = change.customer if change is not None else p.customer
        assert customer is not None
        links += [through(customer_id=customer.pk, tag_id=tags[name]) for name in p.tags]
        if change is None:  # only tags were added: still a change, for undo
            change = changes[p.row] = Change(
                batch=batch, customer=customer, row=p.row, created=False
            )
        change.after = {**change.after, "tags": p.tags}
    through.objects.bulk_create(links, batch_size=BATCH, ignore_conflicts=True)


@dataclass
class Undone:
    removed: int = 0
    restored: int = 0
    kept: list[int] = field(default_factory=list)  # rows left as they are, and why below
    reasons: dict[int, str] = field(default_factory=dict)


def undo(batch: Import, *, actor: Any = None, now: datetime | None = None) -> Undone:
    """Take the import back: the customers it made go (unless something happened to them
    since — an event, a message, a task, a plan: those stay), the ones it changed get their
    earlier values back (a field changed again since keeps the newer value), and the tags it
    added come off."""
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
        Customer.objects.filter(
            pk__in=[c.customer_id for c in made if c.customer_id not in active]
        ).delete()
        result.removed = len(made) - len(result.kept)
        for change in changes:
            if change.created or change.customer is None:
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
        now_value = _plain(_get(customer, key))
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
