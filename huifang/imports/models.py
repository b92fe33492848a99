"""An import is one batch: what it read, what it decided per row, and what it changed, so it can
be undone."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Import(models.Model):
    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customers")

    class Policy(models.TextChoices):
        """What a row does to a customer who is already there."""

        SKIP = "skip", _("Leave them as they are")
        FILL_EMPTY = "fill_empty", _("Fill in only what is empty")
        OVERWRITE = "overwrite", _("Overwrite with the file's values")

    class Status(models.TextChoices):
        DONE = "done", _("Imported")
        UNDONE = "undone", _("Undone")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file_name = models.CharField(_("file"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    policy = models.CharField(_("existing customers"), max_length=16, choices=Policy.choices)
    match_on = models.JSONField(_("matched by"), default=list)
    mapping = models.JSONField(_("columns"), default=dict)  # column letter -> field key
    header_row = models.PositiveIntegerField(_("header row"))
    counts = models.JSONField(_("counts"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("imported at"))
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
