"""An import is one batch: what it read, what it decided per row, and what it changed, so it can
be undone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Import(models.Model):
    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")
        EVENTS = "events", _("Events")

    class Policy(models.TextChoices):
        """What a row does to a customer who is already there."""

        SKIP = "skip", _("Leave them as they are")
        FILL_EMPTY = "fill_empty", _("Fill in only what is empty")
        OVERWRITE = "overwrite", _("Overwrite with the file's values")

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("import status", "Columns to choose")
        CHECKING = "checking", pgettext_lazy("import status", "Checking")
        CHECKED = "checked", pgettext_lazy("import status", "Checked, ready to import")
        RUNNING = "running", pgettext_lazy("import status", "Importing")
        DONE = "done", pgettext_lazy("import status", "Imported")
        FAILED = "failed", pgettext_lazy("import status", "Failed")
        UNDONE = "undone", pgettext_lazy("import status", "Undone")

    # The worker is at it: the page shows a progress bar and looks again.
    WORKING = (Status.CHECKING, Status.RUNNING)

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file_name = models.CharField(_("file"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    policy = models.CharField(_("existing customers"), max_length=16, choices=Policy.choices)
    match_on = models.JSONField(_("matched by"), default=list)
    mapping = models.JSONField(_("columns"), default=dict)  # column letter -> field key
    header_row = models.PositiveIntegerField(_("header row"), default=1)
    # An import of events: the type of every row (or of rows whose type column is empty), whether
    # rules hear of the events (off: a backfill of history starts no follow-up), and whether a
    # row whose customer is not there yet adds them.
    event_type = models.CharField(_("event type"), max_length=64, blank=True)
    fire_rules = models.BooleanField(_("start follow-ups from these events"), default=False)
    create_customers = models.BooleanField(_("add customers not found"), default=False)
    counts = models.JSONField(_("counts"), default=dict)
    # The uploaded file until it is imported (in the database, so a worker on another machine
    # reads it too); emptied once the import is done, failed or dropped.
    data = models.BinaryField(null=True, blank=True, editable=False)
    # What the check found: headers, the first rows as they will be stored (personal details
    # masked), for the page.
    summary = models.JSONField(default=dict, blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    done_rows = models.PositiveIntegerField(_("rows done"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # When the worker last said how far it got: one that stops saying for long has died.
    beat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"))
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done_rows / self.total_rows)) if self.total_rows else 0


class Change(models.Model):
    """A customer the import made or changed: made ones are removed by undo, changed ones get
    back the values this import replaced (``before``; ``after`` is what it wrote)."""

    batch = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="changes")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    row = models.PositiveIntegerField(_("row"))
    created = models.BooleanField(_("created"))
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["batch", "row"], name="imports_change_row")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.row}"


class ImportedEvent(models.Model):
    """An event an import of events added: undo removes it (unless a follow-up it started has
    done something since) and recomputes its customer's figures."""

    batch = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="events")
    event = models.ForeignKey(
        "customers.Event", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    row = models.PositiveIntegerField(_("row"))

    class Meta:
        indexes = [models.Index(fields=["batch", "row"], name="imports_event_row")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.row}"


class Problem(models.Model):
    """A refused row: which cell, what it held, why (the downloadable error report)."""

    batch = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="problems")
    row = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=8, blank=True)
    header = models.CharField(_("header"), max_length=200, blank=True)
    value = models.CharField(_("value"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=500)

    class Meta:
        ordering = ["row", "id"]

    def __str__(self) -> str:
        return f"{self.row}{self.column}: {self.reason}"

    @staticmethod
    def add(batch: Import, found: Iterable[Any]) -> None:
        """Store refused cells (anything with ``row``, ``column``, ``header``, ``value`` and
        ``reason``), each cut to its column's size."""
        Problem.objects.bulk_create(
            [
                Problem(
                    batch=batch,
                    row=p.row,
                    column=p.column,
                    header=p.header[:200],
                    value=p.value[:200],
                    reason=p.reason[:500],
                )
                for p in found
            ],
            batch_size=500,
        )


class SavedMapping(models.Model):
    """Column choices kept under a name, for the next file of the same shape: which header
    fills which field, and the import's options. A file whose headers hold all of a saved
    mapping's gets it at upload."""

    kind = models.CharField(_("kind"), max_length=16, choices=Import.Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    columns = models.JSONField(_("columns"), default=dict)  # header -> field key
    options = models.JSONField(_("options"), default=dict)  # policy, match_on, event options
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("saved at"))
    used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("saved column choices")
        verbose_name_plural = _("saved column choices")
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="imports_saved_mapping_name")
        ]

    def __str__(self) -> str:
        return self.name
