"""The audit log is append-only and hash-chained: any edit, removal or reordering made behind
the application's back is found by ``huifang audit verify``, which names the entry."""

from __future__ import annotations

import itertools
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.audit.models import AppendOnlyError, Entry
from huifang.audit.services import record, verify

pytestmark = pytest.mark.django_db


def _write(count: int) -> list[Entry]:
    return [
        record(Entry.Action.SETTINGS, f"change {n}", object_repr=f"thing {n}", details={"n": n})
        for n in range(count)
    ]


def _raw(sql: str, params: list[Any]) -> None:
    """What someone with the database's password could do."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_fresh_chain_verifies_and_each_entry_points_at_the_one_before() -> None:
    entries = _write(5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(b.previous == a.digest for a, b in itertools.pairwise(entries))
    assert verify() == (5, None)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "intact: 5 entries" in out.getvalue()


def test_the_models_refuse_to_change_or_delete_an_entry() -> None:
    entry = _write(1)[0]
    entry.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        Entry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        Entry.objects.all().delete()
    assert verify() == (1, None)


def test_an_entry_edited_in_the_database_is_named_by_verify() -> None:
    entries = _write(4)
    _raw("UPDATE audit_entry SET actor = %s WHERE seq = %s", ["mallory", entries[2].seq])
    checked, broken = verify()
    assert checked == 2
    assert broken is not None and (broken.seq, broken.why) == (3, "content")
    with pytest.raises(CommandError, match=r"broken at entry #3 .*edited"):
        call_command("audit", "verify")


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link() -> None:
    entries = _write(3)
    forged = Entry.objects.get(seq=2)
    forged.object_repr = "nothing to see"
    _raw(
        "UPDATE audit_entry SET object_repr = %s, digest = %s WHERE seq = 2",
        [forged.object_repr, forged.compute_digest()],
    )
    _checked, broken = verify()
    assert broken is not None and (broken.seq, broken.why) == (entries[2].seq, "chain")


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_a_deleted_entry_is_found_missing(seq: int) -> None:
    _write(5)
    _raw("DELETE FROM audit_entry WHERE seq = %s", [seq])
    _checked, broken = verify()
    assert broken is not None and (broken.seq, broken.why) == (seq, "missing")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(min_value=1, max_value=8),
    data=st.data(),
    column=st.sampled_from(["actor", "verb", "object_repr", "reason", "details", "at"]),
)
def test_any_single_edit_is_found_at_its_entry(count: int, data: Any, column: str) -> None:
    _raw("DELETE FROM audit_entry", [])  # a clean chain for each example
    _raw("UPDATE audit_head SET seq = 0, digest = %s WHERE id = 1", ["0" * 64])
    _write(count)
    seq = data.draw(st.integers(min_value=1, max_value=count))
    values = {
        "actor": "mallory",
        "verb": "nothing",
        "object_repr": "nothing",
        "reason": "nothing",
        "details": '{"n": -1}',
        "at": "2001-01-01 00:00:00",
    }
    _raw(f"UPDATE audit_entry SET {column} = %s WHERE seq = %s", [values[column], seq])  # noqa: S608
    _checked, broken = verify()
    assert broken is not None and broken.seq == seq
