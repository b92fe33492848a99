"""What an import of customers does, row by row: each row's values as they will be stored, the
customer it matches (by external id, phone or e-mail, in the order chosen) and what the chosen
policy makes of it — or why it is refused.

A file is planned as a stream, ``CHUNK`` rows at a time (``Plan.chunks``), so a million rows
never sit in memory: what is kept across chunks is a set of the match keys already met, to
merge a row into an earlier one of the same file. Planned for a check (no batch), such a row is
counted as merged; planned for writing, earlier chunks are written already and the row goes to
the customer they wrote or matched."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from huifang.core import rows as row_sql
from huifang.customers.models import Customer

from . import values
from .keys import KeyIndex, digest
from .mapping import HEADER_SEARCH, Target, header_row, suggest, target_for
from .models import Import
from .reading import Row, column_name, open_rows

MATCH_KEYS = ("external_id", "phone", "email")
# Customer columns a row writes; tags, attributes and the owner are handled on their own.
COLUMNS = (
    "external_id",
    "name",
    "phone",
    "email",
    "birthday",
    "gender",
    "tier",
    "lifecycle_stage",
    "company",
    "province",
    "city",
    "source",
    "business_line",
    "note",
)
CHUNK = 2000
PROGRESS_EVERY = 5000
# A file this large (bytes) is read and parsed by a process of its own (``_parsed``).
READ_APART_FROM = 1 << 20


class MappingRefused(ValueError):
    """The mapping cannot be used (a column or field that does not exist)."""


@dataclass
class Problem:
    row: int
    column: str  # as the spreadsheet labels it: "C"
    header: str
    value: str
    reason: str


@dataclass
class Planned:
    """A row that will be written: its values, and the customer it goes to (``None``: new)."""

    row: int
    values: dict[str, Any]
    customer: Customer | None = None
    how: str = "created"  # created, updated, merged, unchanged
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (before, after)
    tags: list[str] = field(default_factory=list)
    merged_rows: list[int] = field(default_factory=list)
    # A row merged into an earlier chunk's row (``merging``), written to the customer that
    # row went to: as a merge when that row made them (``late``), else under the policy.
    merging: bool = False
    late: bool = False
    keys: list[tuple[str, Any]] = field(default_factory=list)  # the row's own
    # The keys a later row finds it by: its own and its merged rows' that no earlier row had.
    owned: list[tuple[str, Any]] = field(default_factory=list)
    made: int | None = None  # the customer the row made, once written

    @property
    def customer_id(self) -> int | None:
        return self.customer.pk if self.customer is not None else self.made


@dataclass
class Chunk:
    """Rows planned together: what they will write, and the rows refused."""

    rows: list[Planned]
    problems: list[Problem]
    read: int  # rows of the file this chunk went through (empty ones too)


@dataclass
class Plan:
    file_name: str
    header_row: int  # 1-based, as the spreadsheet numbers it
    headers: list[str]
    mapping: dict[int, str]  # 0-based column -> field key
    policy: str
    match_on: list[str]
    # Where to read the rows: the file, and the name it was uploaded under (its suffix).
    path: Path | None = None
    name: str | None = None
    # Filled by ``plan_file`` (every row, for a small file and the tests); a streamed plan
    # keeps only ``tally`` and the first rows.
    rows: list[Planned] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    first: list[Planned] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            k: self.tally.get(k, 0)
            for k in ("created", "updated", "merged", "unchanged", "refused")
        }

    def preview(self, limit: int = 20) -> list[dict[str, Any]]:
        """The first rows as they will be stored (for the dry run and the wizard)."""
        return [
            {
                "row": p.row,
                "how": p.how,
                "customer": p.customer.pk if p.customer is not None else None,
                "values": {k: plain(v) for k, v in p.values.items()},
                "changes": {k: [plain(a), plain(b)] for k, (a, b) in p.changes.items()},
            }
            for p in self.first[:limit]
        ]

    def chunks(
        self, *, writing: bool = False, progress: Callable[[int], None] | None = None
    ) -> Iterator[Chunk]:
        """The file planned ``CHUNK`` rows at a time. ``writing``: each chunk is written before
        the next is planned (a later row of a customer an earlier chunk wrote goes to them).
        Counts are added up in ``tally``; ``progress`` hears how many rows were read."""
        assert self.path is not None
        self.tally, self.first = Counter(), []
        targets = {i: target_for(key) for i, key in self.mapping.items()}
        met = KeyIndex()
        read = 0
        for size, parsed, problems in _parsed(self, targets):
            read += size
            _owners(parsed, problems)
            kept = _match(parsed, self, problems, met, writing)
            if not writing:
                _remember(kept, met)
            self.tally["refused"] += len({p.row for p in problems})
            for planned in kept:
                self.tally[planned.how] += 1
                self.tally["merged"] += len(planned.merged_rows)
            if len(self.first) < 20:
                self.first += kept[: 20 - len(self.first)]
            yield Chunk(kept, problems, read)
            if writing:  # written: each row's customer has a number now
                _remember(kept, met)
            if progress is not None:
                progress(read)


def _parse_chunks(
    plan: Plan, targets: Mapping[int, Target | None]
) -> Iterator[tuple[int, list[Planned], list[Problem]]]:
    """The file read and its rows parsed ``CHUNK`` at a time: (rows read, the rows parsed,
    the rows refused). Nothing here touches the database."""
    assert plan.path is not None
    rows = islice(open_rows(plan.path, name=plan.name), plan.header_row, None)
    while batch := list(islice(rows, CHUNK)):
        problems: list[Problem] = []
        parsed = [
            planned
            for row in batch
            if any(values.text(c.value) for c in row)
            and (planned := _parse_row(row, plan.headers, targets, problems)) is not None
        ]
        yield len(batch), parsed, problems


def _parsed(
    plan: Plan, targets: Mapping[int, Target | None]
) -> Iterator[tuple[int, list[Planned], list[Problem]]]:
    """``_parse_chunks``; for a large file, in a process of its own (forked: it has the
    caller's language and settings, and never uses the database), a chunk ahead of the
    caller, who matches and writes meanwhile — the machine's second core reads the file.
    An error of the file is raised here either way."""
    assert plan.path is not None
    if plan.path.stat().st_size < READ_APART_FROM:
        yield from _parse_chunks(plan, targets)
        return
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read_apart, args=(plan, targets, sending), name="huifang-import-reader"
    )
    reader.start()
    sending.close()
    try:
        while True:
            kind, found = receiving.recv()
            if kind == "error":
                raise found
            if kind == "done":
                return
            size, rows, problems = found
            yield size, [Planned(row, values) for row, values in rows], problems
    finally:
        receiving.close()
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _read_apart(plan: Plan, targets: Mapping[int, Target | None], sending: Any) -> None:
    """The reading process: each chunk sent as plain rows (what pickles fast)."""
    try:
        for size, parsed, problems in _parse_chunks(plan, targets):
            sending.send(("chunk", (size, [(p.row, p.values) for p in parsed], problems)))
        sending.send(("done", None))
    except Exception as exc:  # raised again in the importing process
        try:
            sending.send(("error", exc))
        except Exception:
            with contextlib.suppress(OSError):
                sending.send(("error", RuntimeError(str(exc))))
    finally:
        sending.close()


def plain(value: Any) -> Any:
    """A value as JSON holds it (dates as ISO text), for previews and undo records."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def mapping_from(headers: Sequence[str], chosen: Mapping[str, str] | None) -> dict[int, str]:
    """Columns by header name or letter (``{"手机号码": "phone", "G": "attributes.store"}``), or
    the suggestions when nothing is chosen; a value of ``""`` leaves a column out."""
    if not chosen:
        return suggest(headers)
    found: dict[int, str] = {}
    letters = {column_name(i + 1): i for i in range(len(headers))}
    for name, key in chosen.items():
        index = headers.index(name) if name in headers else letters.get(str(name).upper())
        if index is None:
            raise MappingRefused(_("The file has no column “%(name)s”.") % {"name": name})
        if not key:
            continue
        if target_for(key) is None:
            raise MappingRefused(_("“%(key)s” is not a field an import can fill.") % {"key": key})
        if key in found.values():
            raise MappingRefused(_("Two columns fill “%(key)s”; choose one.") % {"key": key})
        found[index] = key
    return found


def open_plan(
    path: Path | str,
    *,
    name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    policy: str = Import.Policy.FILL_EMPTY,
    match_on: Sequence[str] = MATCH_KEYS,
) -> Plan:
    """A plan of the file from its first rows (the header, the columns): ``Plan.chunks``
    plans the rest. Raises ``FileRefused`` for a file that cannot be imported at all and
    ``MappingRefused`` for a mapping that does not fit it."""
    first = list(islice(open_rows(path, name=name), HEADER_SEARCH))
    top = header_row(first)
    headers = [values.text(c.value) for c in first[top]] if first else []
    columns = mapping_from(headers, mapping)
    if policy not in Import.Policy.values:
        raise MappingRefused(_("Choose skip, fill_empty or overwrite for existing customers."))
    unknown = [key for key in match_on if key not in MATCH_KEYS]
    if unknown or not match_on:
        raise MappingRefused(_("Match customers by external_id, phone or email."))
    return Plan(
        Path(name or str(path)).name,
        top + 1,
        headers,
        columns,
        policy,
        list(match_on),
        path=Path(path),
        name=name,
    )


def plan_file(
    path: Path | str,
    *,
    name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    policy: str = Import.Policy.FILL_EMPTY,
    match_on: Sequence[str] = MATCH_KEYS,
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Plan the whole file and keep every row (nothing is written): the dry run of a file
    small enough to hold. ``open_plan`` for the arguments and refusals."""
    plan = open_plan(path, name=name, mapping=mapping, policy=policy, match_on=match_on)
    for chunk in plan.chunks(progress=progress):
        plan.rows += chunk.rows
        plan.problems += chunk.problems
    return plan


def _parse_row(
    row: Row, headers: Sequence[str], targets: Mapping[int, Target | None], problems: list[Problem]
) -> Planned | None:
    number = row[0].row if row else 0
    found: dict[str, Any] = {}
    refused = False
    for cell in row:
        target = targets.get(cell.column - 1)
        if target is None or cell.value is None or values.text(cell.value) == "":
            continue
        try:
            found[target.key] = target.parse(cell.value)
        except values.ValueRefused as exc:
            refused = True
            problems.append(
                Problem(
                    cell.row,
                    column_name(cell.column),
                    headers[cell.column - 1] if cell.column - 1 < len(headers) else "",
                    values.text(cell.value)[:200],
                    str(exc),
                )
            )
    if refused:
        return None
    if not any(found.get(k) for k in ("name", *MATCH_KEYS)):
        problems.append(
            Problem(number, "", "", "", _("The row has no name, customer number, phone or e-mail."))
        )
        return None
    return Planned(number, found)


def _owners(rows: list[Planned], problems: list[Problem]) -> None:
    names = {str(p.values["owner"]) for p in rows if p.values.get("owner")}
    known = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    for planned in list(rows):
        owner = planned.values.pop("owner", None)
        if not owner:
            continue
        if owner in known:
            planned.values["owner_id"] = known[owner]
        else:
            rows.remove(planned)
            problems.append(
                Problem(
                    planned.row,
                    "",
                    _("Owner (username)"),
                    str(owner),
                    _("No staff member has the username “%(value)s”.") % {"value": owner},
                )
            )


def _match(
    rows: list[Planned], plan: Plan, problems: list[Problem], met: KeyIndex, writing: bool
) -> list[Planned]:
    """Each row to its customer: an earlier row of the file with the same key (the two are
    merged), else a customer already there, else a new one. ``met`` holds the keys of the
    earlier chunks' rows and the customer each went to (``_remember``)."""
    existing = _existing(rows, plan.match_on)
    for planned in rows:
        planned.keys = [(k, planned.values[k]) for k in plan.match_on if planned.values.get(k)]
    earlier_chunks = met.find([digest(k) for p in rows for k in p.keys])
    late = _customers([v // 2 for v in earlier_chunks.values() if v // 2]) if writing else {}
    kept: list[Planned] = []
    by_key: dict[tuple[str, Any], Planned] = {}
    going_late: dict[int, Planned] = {}  # customer -> this chunk's row merged into them

    def claim(key: tuple[str, Any], row: Planned) -> None:
        """A later row with ``key`` goes to ``row``, unless an earlier row had it first."""
        if key not in by_key and digest(key) not in earlier_chunks:
            by_key[key] = row
            row.owned.append(key)

    for planned in rows:
        keys = planned.keys
        # The first key (in the order chosen) that an earlier row of the file had: of this
        # chunk (``by_key``) or of an earlier one (``earlier_chunks``).
        first = next((k for k in keys if k in by_key or digest(k) in earlier_chunks), None)
        earlier = by_key.get(first) if first is not None else None
        if earlier is not None:
            _merge_rows(earlier, planned, plan.policy)
            earlier.merged_rows.append(planned.row)
            for key in keys:
                claim(key, earlier)
            continue
        found = earlier_chunks[digest(first)] if first is not None else None
        if found is not None:
            # Merged into a row of an earlier chunk: counted, and when writing, sent to the
            # customer that row was written to — as a merge when that row made them, under
            # the policy when it found them already there.
            customer = late.get(found // 2)
            if customer is None:  # a check (nothing written), or the customer is gone
                plan.tally["merged"] += 1
                met.add((digest(k), found) for k in keys)
                for key in keys:  # a later row of this chunk finds them too
                    earlier_chunks.setdefault(digest(key), found)
                continue
            if (target := going_late.get(customer.pk)) is not None:
                # Another row of this chunk goes to them already: the two merge, as they
                # would into the one row of a file planned whole.
                _merge_rows(target, planned, plan.policy)
                target.merged_rows.append(planned.row)
                for key in keys:
                    claim(key, target)
                continue
            planned.customer, planned.merging, planned.late = customer, True, bool(found % 2)
            going_late[customer.pk] = planned
        else:
            planned.customer = next((existing[k] for k in keys if k in existing), None)
        if planned.customer is None and not planned.values.get("name"):
            problems.append(
                Problem(
                    planned.row, "", "", "", _("A new customer needs a name; this row has none.")
                )
            )
            continue
        for key in keys:
            claim(key, planned)
        kept.append(planned)
    tagged = _tags_of([p.customer.pk for p in kept if p.customer is not None])
    for planned in kept:
        _decide(planned, plan.policy, tagged)
    return kept


def _remember(rows: Iterable[Planned], met: KeyIndex) -> None:
    """The rows' keys (theirs and their merged rows'), each with the customer it went to and
    whether this import made them: ``pk * 2 + made`` (``pk`` is 0 before anything is written)."""
    met.add(
        (digest(key), (p.customer_id or 0) * 2 + made)
        for p in rows
        for made in [int(p.how == "created" or p.late)]
        for key in p.owned
    )


# What planning and writing a row read of a customer already there: loaded without the rest of
# their forty columns, which a million rows would pay for.
_READ_FIELDS = (*COLUMNS, "attributes", "owner")


def _customers(numbers: list[int]) -> dict[int, Customer]:
    found: dict[int, Customer] = {}
    for start in range(0, len(numbers), CHUNK):
        chunk = Customer.objects.filter(pk__in=numbers[start : start + CHUNK])
        loaded = row_sql.loaded(Customer, _READ_FIELDS, chunk.values_list("pk", *_READ_FIELDS))
        found.update((customer.pk, customer) for customer in loaded)
    return found


def _tags_of(customers: Sequence[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    through = Customer.tags.through
    for start in range(0, len(customers), CHUNK):
        for cid, name in through.objects.filter(
            customer_id__in=customers[start : start + CHUNK]
        ).values_list("customer_id", "tag__name"):
            found.setdefault(cid, set()).add(name)
    return found


def _existing(rows: Iterable[Planned], match_on: Sequence[str]) -> dict[tuple[str, Any], Customer]:
    found: dict[tuple[str, Any], Customer] = {}
    for key in reversed(match_on):  # the first key chosen wins where two find different people
        wanted = sorted({str(p.values[key]) for p in rows if p.values.get(key)})
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            matching = Customer.objects.filter(**{f"{key}__in": chunk}).order_by("-pk")
            for customer in row_sql.loaded(
                Customer, _READ_FIELDS, matching.values_list("pk", *_READ_FIELDS)
            ):
                found[(key, getattr(customer, key))] = customer
    return found


def _merge_rows(earlier: Planned, later: Planned, policy: str) -> None:
    for key, value in later.values.items():
        if key == "tags":
            earlier.values["tags"] = list(dict.fromkeys([*earlier.values.get("tags", []), *value]))
        elif policy == Import.Policy.OVERWRITE or not earlier.values.get(key):
            earlier.values[key] = value


def _decide(planned: Planned, policy: str, tagged: Mapping[int, set[str]]) -> None:
    """What the row changes: everything, for a new customer; for one already there, what the
    policy allows (an empty cell never erases anything; tags are added, never taken away)."""
    customer = planned.customer
    has = tagged.get(customer.pk, set()) if customer is not None else set()
    planned.tags = [t for t in planned.values.get("tags", []) if t not in has]
    if customer is None:
        planned.how = "created"
        return
    if planned.late:  # a row merged into an earlier one: what an in-file merge would take
        if policy != Import.Policy.OVERWRITE:
            policy = Import.Policy.FILL_EMPTY
    elif policy == Import.Policy.SKIP:
        planned.how, planned.tags = "merged" if planned.merging else "unchanged", []
        return
    for key, value in planned.values.items():
        if key == "tags":
            continue
        before = _current(customer, key)
        if before == value:
            continue
        if policy == Import.Policy.FILL_EMPTY and before not in (None, ""):
            continue
        planned.changes[key] = (before, value)
    matched_by_number = customer.external_id and customer.external_id == planned.values.get(
        "external_id"
    )
    if planned.merging:
        planned.how = "merged"
    elif not planned.changes and not planned.tags:
        planned.how = "unchanged"
    else:
        planned.how = "updated" if matched_by_number else "merged"


def _current(customer: Customer, key: str) -> Any:
    if key.startswith("attributes."):
        return (customer.attributes or {}).get(key.split(".", 1)[1])
    return getattr(customer, key)
