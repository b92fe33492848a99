"""Background work goes through a real Huey queue: SQLite embedded, Redis when configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from huey import RedisHuey, SqliteHuey
from huey.api import Huey


def round_trip(huey: Huey) -> int:
    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    result = add(2, 3)
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    return int(result.get())


def test_it_runs_a_task_through_the_sqlite_queue(tmp_path: Path) -> None:
    assert round_trip(SqliteHuey("test", filename=str(tmp_path / "q.db"))) == 5


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_it_runs_a_task_through_redis() -> None:
    huey = RedisHuey(f"huifang-test-{os.getpid()}", url=os.environ["REDIS_URL"])
    try:
        assert round_trip(huey) == 5
    finally:
        huey.flush()


def test_the_worker_command_hands_its_options_to_huey() -> None:
    from huifang.server.management.commands.worker import Command

    parser = Command().create_parser("huifang", "worker")
    options = vars(parser.parse_args(["--scheduler", "--workers", "3"]))
    assert options["scheduler"] is True and options["workers"] == 3
