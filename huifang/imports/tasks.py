"""The import page's work, done by a worker so that a large file neither holds a web request
nor dies with it: the page shows the progress and looks again until it is done."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from .models import Import
from .services import check, execute, recover_stalled


@db_task()
def check_import(pk: int) -> None:
    batch = Import.objects.filter(pk=pk, status=Import.Status.CHECKING).first()
    if batch is not None:
        check(batch)


@db_task()
def run_import(pk: int) -> None:
    batch = Import.objects.filter(pk=pk, status=Import.Status.RUNNING).first()
    if batch is not None:
        execute(batch)


@db_periodic_task(crontab(minute="*/5"))
def recover_imports() -> int:
    """Imports whose worker died part-way are taken back (``recover_stalled``)."""
    return recover_stalled()
