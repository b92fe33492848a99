from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Preview(models.Model):
    """One computation of a rule version's impact over the next ``days``: queued when a version
    is saved or its preview is looked at, simulated by a worker (a month at a large shop takes
    minutes, longer than a web request may), kept so that the page shows it at once until it is
    stale. The stored figures name customers by id only: names are read when it is shown."""

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("preview status", "Waiting for a worker")
        RUNNING = "running", pgettext_lazy("preview status", "Simulating")
        DONE = "done", pgettext_lazy("preview status", "Done")
        FAILED = "failed", pgettext_lazy("preview status", "Failed")

    WORKING = (Status.QUEUED, Status.RUNNING)

    version = models.ForeignKey(
        "rules.RuleVersion", on_delete=models.CASCADE, related_name="previews"
    )
    days = models.PositiveSmallIntegerField(_("days"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    # The active rules it was simulated with ("key:version id"): another set makes it stale.
    others = models.JSONField(default=list)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    requested_at = models.DateTimeField(_("requested at"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The simulated period starts here (when the worker started it).
    start = models.DateTimeField(_("simulated from"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("impact preview")
        verbose_name_plural = _("impact previews")
        indexes = [models.Index(fields=["version", "days", "-requested_at"])]

    def __str__(self) -> str:
        return f"{self.version} {self.days}d {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.finished_at is None:
            return None
        return (self.finished_at - self.start).total_seconds()
