"""Saved column choices: an import's columns (by header name, so a file with its columns in
another order fits too) and options, kept under a name and given to the next file whose
headers hold them all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from .models import Import, SavedMapping
from .reading import column_name

OPTIONS = ("policy", "match_on", "event_type", "fire_rules", "create_customers")


def _headers(batch: Import) -> list[str]:
    return [str(h) for h in batch.summary.get("headers", [])]


def save(batch: Import, name: str, choices: dict[str, Any], *, actor: Any = None) -> SavedMapping:
    """Keep ``choices`` (the columns form's: ``mapping`` by column letter, and the options)
    under ``name`` for files of the batch's kind; a mapping of that name is replaced."""
    headers = _headers(batch)
    letters = {column_name(i + 1): header for i, header in enumerate(headers) if header}
    columns = {
        letters[letter]: key for letter, key in choices["mapping"].items() if letter in letters
    }
    options = {k: choices[k] for k in OPTIONS if k in choices}
    saved, _created = SavedMapping.objects.update_or_create(
        kind=batch.kind,
        name=name.strip()[:100],
        defaults={
            "columns": columns,
            "options": options,
            "created_by": actor if getattr(actor, "pk", None) else None,
            "created_at": timezone.now(),
        },
    )
    return saved


def fitting(batch: Import) -> list[SavedMapping]:
    """The saved mappings of the batch's kind whose every header is in the file, the best
    first: the most columns, then the most recently used."""
    present = set(_headers(batch))
    found = [
        saved
        for saved in SavedMapping.objects.filter(kind=batch.kind)
        if saved.columns and set(saved.columns) <= present
    ]
    latest = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    return sorted(found, key=lambda s: (-len(s.columns), -(s.used_at or latest).timestamp()))


def apply(batch: Import, saved: SavedMapping) -> None:
    """Give the batch the saved columns and options; it goes back to its columns (a check
    made with other columns no longer holds)."""
    by_header = {header: column_name(i + 1) for i, header in enumerate(_headers(batch)) if header}
    mapping = {by_header[h]: key for h, key in saved.columns.items() if h in by_header}
    fields: dict[str, Any] = {k: v for k, v in saved.options.items() if k in OPTIONS}
    Import.objects.filter(pk=batch.pk).update(
        mapping=mapping,
        status=Import.Status.DRAFT,
        summary={**batch.summary, "saved": saved.name, "preview": []},
        **fields,
    )
    SavedMapping.objects.filter(pk=saved.pk).update(used_at=timezone.now())
    batch.refresh_from_db(fields=["mapping", "status", "summary", *fields])


def apply_best(batch: Import) -> SavedMapping | None:
    """At upload: the best fitting saved mapping, applied; ``None`` when none fits."""
    found = fitting(batch)
    if found:
        apply(batch, found[0])
        return found[0]
    return None
