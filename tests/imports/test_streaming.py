"""A file is planned and written a chunk at a time (``planning.CHUNK`` rows): however the rows
fall into chunks, an import ends with the same customers and the same counts, and its check
(the dry run) counts what the import then does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.customers.models import Customer
from huifang.imports import planning
from huifang.imports.models import Import
from huifang.imports.planning import plan_file
from huifang.imports.reading import FileRefused
from huifang.imports.services import run, undo

from .files import csv_file

pytestmark = pytest.mark.django_db

PHONES = [f"1380013800{i}" for i in range(4)]
MAILS = ["", "a@example.cn", "b@example.cn"]

rows = st.lists(
    st.tuples(
        st.sampled_from(["", "王小明", "李雷", "韩梅梅"]),
        st.sampled_from(["", *PHONES]),
        st.sampled_from(MAILS),
        st.sampled_from(["", "杭州", "上海"]),
    ),
    min_size=1,
    max_size=12,
)


def state() -> set[tuple[Any, ...]]:
    return set(Customer.objects.values_list("name", "phone", "email", "city"))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows,
    st.sampled_from(list(Import.Policy.values)),
    st.sampled_from([1, 2, 3]),
    st.booleans(),
)
def test_chunks_change_nothing_of_what_an_import_does(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    table: list[tuple[str, str, str, str]],
    policy: str,
    size: int,
    known: bool,
) -> None:
    path = csv_file(
        tmp_path_factory.mktemp("f") / "客户.csv",
        [["姓名", "手机号码", "邮箱", "城市"], *[list(r) for r in table]],
    )

    def imported(chunk: int) -> tuple[dict[str, int], dict[str, int], set[tuple[Any, ...]]]:
        Customer.objects.all().delete()
        if known:  # one customer already there, with an empty e-mail and city
            Customer.objects.create(name="老客户", phone="+8613800138000")
        monkeypatch.setattr(planning, "CHUNK", chunk)
        checked = plan_file(path, policy=policy).counts
        batch = run(plan_file(path, policy=policy))
        return checked, batch.counts, state()

    whole = imported(1000)
    assert whole[0] == whole[1]  # the check counts what the import does
    chunked = imported(size)
    assert chunked[0] == chunked[1]
    assert chunked[2] == whole[2]  # the same customers, with the same values
    # The same rows made and refused. Whether a row already there counts as unchanged or
    # merged can differ: planned whole, a later row's values join it before it is judged;
    # across chunks it is judged alone, and the later row is counted as merged.
    for counts in (chunked[1], whole[1]):
        assert sum(counts.values()) == sum(whole[1].values())
    assert [chunked[1][k] for k in ("created", "refused")] == [
        whole[1][k] for k in ("created", "refused")
    ]


def test_a_row_merged_into_an_earlier_chunk_is_undone_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning, "CHUNK", 1)
    path = csv_file(
        tmp_path / "客户.csv",
        [
            ["姓名", "手机号码", "邮箱"],
            ["王小明", "13800138000", ""],
            ["", "13800138000", "w@a.cn"],
        ],
    )
    batch = run(plan_file(path))
    assert batch.counts["created"] == 1 and batch.counts["merged"] == 1
    assert Customer.objects.get().email == "w@a.cn"
    assert undo(batch).removed == 1
    assert not Customer.objects.exists()


def _mixed_file(tmp_path: Path) -> Path:
    return csv_file(
        tmp_path / "客户.csv",
        [
            ["姓名", "手机号码", "邮箱", "生日"],
            *[[f"客户{i}", f"138{i:08d}", f"c{i}@example.cn", "1990-01-02"] for i in range(30)],
            ["坏电话", "12", "", ""],
            ["坏日子", "13900000001", "", "1990-13-40"],
            ["", "13800000003", "again@example.cn", ""],  # merges into 客户3
        ],
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_large_file_read_by_a_process_of_its_own_imports_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    """Above ``READ_APART_FROM`` bytes a forked process reads and parses the file: the same
    rows, the same refusals in the user's language, the same customers."""
    path = _mixed_file(tmp_path)
    monkeypatch.setattr(planning, "CHUNK", 7)
    with translation.override(language):
        here = plan_file(path)
        monkeypatch.setattr(planning, "READ_APART_FROM", 0)
        apart = plan_file(path)
        batch = run(plan_file(path))
    assert apart.counts == here.counts == batch.counts
    assert apart.counts["refused"] == 2 and apart.counts["merged"] == 1
    assert [(p.row, p.reason) for p in apart.problems] == [(p.row, p.reason) for p in here.problems]
    reasons = " ".join(p.reason for p in apart.problems)
    assert ("not a day of the calendar" in reasons) == (language == "en")
    assert Customer.objects.get(phone="+8613800000003").email == "c3@example.cn"
    assert Customer.objects.count() == 30


def test_an_error_of_the_file_in_the_reading_process_is_raised_in_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning, "READ_APART_FROM", 0)
    path = tmp_path / "客户.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["姓名", "手机号码"])
    book.active.append(["王芳", "13800138000"])
    book.active.append(["李雷", "=1+1"])
    book.save(path)
    with translation.override("en"), pytest.raises(FileRefused, match="holds a formula"):
        run(plan_file(path))
    assert not Customer.objects.exists()
