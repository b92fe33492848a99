"""The contact-pressure gate: the last word before a message is handed to its channel.

Applied to every customer-facing message of every rule, at the moment it would go out, in
this order: past the rule's misfire grace drops it (``missed``); do-not-contact and consent
drop it (nothing bypasses these); no address for any of its channels drops it; too many
attempts drop it; quiet hours in the customer's zone and days the rule excludes defer it to
the next allowed minute; frequency caps per customer, per channel and across channels, in
rolling windows, defer or drop it as the rule says (transactional messages bypass caps only).
Every decision is appended to the message with its reason.

Two callers, one gate: the engine's runner when a step falls due (``Batch.gate``) and the
dispatcher's last look just before the hand-off (``prepare.Preparation``). Both read a batch's
contact facts — consent, do-not-contact, addresses, zone, recent sends — with the same
handful of queries in ``Gate.load``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from huifang.core import rows
from huifang.customers.models import Channel, Consent, Customer
from huifang.messaging.models import Message, Reason
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.quiet_hours import QuietHours, next_allowed
from huifang.organisation.zones import customer_zone
from huifang.rules.plans import Plan, organisation_quiet_hours

SEND, DEFER, DROP = "send", "defer", "drop"

# The customer field holding the address on each channel.
ADDRESS: dict[str, str] = {
    Channel.SMS: "phone",
    Channel.PHONE: "phone",
    Channel.EMAIL: "email",
    Channel.WECOM: "wecom_external_userid",
}
_ADDRESSES = sorted(set(ADDRESS.values()))


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str = ""
    until: datetime | None = None
    channel: str = ""

    def as_record(self, now: datetime) -> dict[str, Any]:
        record: dict[str, Any] = {"at": now.isoformat(), "action": self.action}
        if self.reason:
            record["reason"] = self.reason
        if self.until:
            record["until"] = self.until.isoformat()
        if self.channel:
            record["channel"] = self.channel
        return record


class Gated(Protocol):
    """What the gate reads of a message: a ``Message`` row, or the dispatcher's ``Job``."""

    @property
    def customer_id(self) -> int | None: ...

    @property
    def channels(self) -> list[str]: ...

    @property
    def holds(self) -> int: ...

    @property
    def transactional(self) -> bool: ...


@dataclass
class _Customer:
    id: int
    do_not_contact: bool
    time_zone: str
    addresses: dict[str, str]


class Gate:
    """Decides for a batch of messages with a handful of queries, whatever the batch size."""

    def __init__(self, now: datetime, calendar: BusinessCalendar | None = None) -> None:
        self.now = now
        self._calendar = calendar
        self.customers: dict[int, _Customer] = {}
        self.consents: set[tuple[int, str]] = set()
        self.sends: dict[int, list[tuple[str, datetime]]] = defaultdict(list)

    @property
    def calendar(self) -> BusinessCalendar:
        """Read the first time a rule that keeps to business days needs it."""
        if self._calendar is None:
            self._calendar = BusinessCalendar.load()
        return self._calendar

    def load(
        self,
        customer_ids: Iterable[int],
        window: timedelta,
        *,
        counted: Iterable[str] = Message.COUNTED,
        known: Mapping[int, Customer] | None = None,
    ) -> None:
        """Read the contact facts of the batch's customers, and their sends within ``window``
        whose status is one of ``counted``. ``known``: the customers, already read by the
        caller (the dispatcher renders with them), so they are not read twice."""
        ids = sorted(set(customer_ids))
        if not ids:
            return
        if known is not None:
            for cid in ids:
                if (customer := known.get(cid)) is not None:
                    self.customers[cid] = _Customer(
                        cid,
                        customer.do_not_contact,
                        customer.time_zone,
                        {field: getattr(customer, field) for field in _ADDRESSES},
                    )
        else:
            where, params = rows.id_in("id", ids)
            for cid, dnc, tz, *addresses in rows.fetch(
                f"SELECT id, do_not_contact, time_zone, {', '.join(_ADDRESSES)} "  # noqa: S608
                f"FROM {Customer._meta.db_table} WHERE {where}",
                params,
            ):
                self.customers[cid] = _Customer(
                    cid, bool(dnc), tz, dict(zip(_ADDRESSES, addresses, strict=True))
                )
        where, params = rows.id_in("customer_id", ids)
        self.consents |= set(
            rows.fetch(
                f"SELECT customer_id, channel FROM {Consent._meta.db_table} WHERE {where} "  # noqa: S608
                "AND status = %s",
                [*params, Consent.Status.GRANTED],
            )
        )
        if window:
            self._load_sends(where, params, window, counted)

    def _load_sends(
        self, where: str, params: list[Any], window: timedelta, counted: Iterable[str]
    ) -> None:
        # A released message counts from the moment the gate let it go — queued and in flight
        # as much as sent, so two batches cannot both fill the same cap — and, once sent, from
        # the moment it went: a backlog sent days after its release still counts today.
        statuses = ", ".join(f"'{status}'" for status in counted)
        for cid, channel, at in rows.fetch(
            "SELECT customer_id, channel, COALESCE(sent_at, queued_at) "  # noqa: S608
            f"FROM {Message._meta.db_table} WHERE {where} AND queued_at IS NOT NULL "
            f"AND COALESCE(sent_at, queued_at) > %s AND status IN ({statuses})",
            [*params, rows.to_db_time(self.now - window)],
        ):
            moment = rows.from_db_time(at)
            if moment is not None:
                self.sends[cid].append((channel, moment))

    def decide(
        self, message: Gated, plan: Plan | None, *, ready_at: datetime | None = None
    ) -> Decision:
        """The decision for one message of ``plan``'s rule (``None``: a message of no rule,
        which has the organisation's quiet hours, no caps and no misfire grace). With
        ``ready_at``, the moment the message was due to go, a message later than the rule's
        misfire grace is dropped as ``missed``."""
        if plan is not None and ready_at is not None and self.now - ready_at > plan.grace:
            return Decision(DROP, Reason.MISSED)
        customer = self.customers.get(message.customer_id or 0)
        if customer is None:
            return Decision(DROP, Reason.NO_ADDRESS)
        if customer.do_not_contact:
            return Decision(DROP, Reason.DO_NOT_CONTACT)
        channel, missing = self._channel(customer, message.channels)
        if channel is None:
            return Decision(DROP, missing)
        policy = plan.document.policy if plan is not None else None
        most = policy.max_attempts if policy is not None else None
        if most is not None and message.holds >= most:
            return Decision(DROP, Reason.MAX_ATTEMPTS, channel=channel)
        local_zone = customer_zone(customer)
        quiet = plan.quiet_hours if plan is not None else organisation_quiet_hours()
        business = plan is not None and plan.business_days
        working_day = self.calendar.is_working_day if business else None
        held = hold(self.now, local_zone, quiet, working_day)
        if held is not None:
            return Decision(DEFER, held[1], held[0], channel=channel)
        if plan is not None and not message.transactional:
            release = self._capped_until(customer.id, channel, plan)
            if release is not None:
                if policy is not None and policy.on_cap == "drop":
                    return Decision(DROP, Reason.CAP, channel=channel)
                until = next_allowed(release, local_zone, quiet, working_day=working_day)
                return Decision(DEFER, Reason.CAP, until, channel=channel)
        return Decision(SEND, channel=channel)

    def sent(self, customer_id: int, channel: str) -> None:
        """Count a send of this batch towards the caps of the customer's later messages."""
        self.sends[customer_id].append((channel, self.now))

    def _channel(self, customer: _Customer, channels: list[str]) -> tuple[str | None, str]:
        missing = Reason.NO_CONSENT
        for channel in channels:
            if (customer.id, channel) not in self.consents:
                continue
            if customer.addresses.get(ADDRESS.get(channel, ""), ""):
                return channel, ""
            missing = Reason.NO_ADDRESS
        return None, missing

    def _capped_until(self, customer_id: int, channel: str, plan: Plan) -> datetime | None:
        """When the tightest cap releases, or ``None`` when no cap is reached."""
        release: datetime | None = None
        for cap in plan.caps:
            window = timedelta(days=cap.per_days)
            if cap.channel not in ("any", channel):
                continue
            times = sorted(
                at
                for sent_channel, at in self.sends.get(customer_id, [])
                if at > self.now - window and cap.channel in ("any", sent_channel)
            )
            if len(times) < cap.max:
                continue
            # The window lets one more through once enough of the oldest sends leave it.
            frees = times[len(times) - cap.max] + window
            release = frees if release is None else max(release, frees)
        return release


def hold(
    now: datetime,
    local_zone: ZoneInfo,
    quiet: QuietHours,
    working_day: Callable[[date], bool] | None,
) -> tuple[datetime, str] | None:
    """(until, reason) when ``now`` is in quiet hours or on an excluded day in the customer's
    zone, else ``None``. A day off is the reason when it holds the message longer than quiet
    hours would (22:30 on the eve of National Day waits for 8 October, not for the morning)."""
    allowed = next_allowed(now, local_zone, quiet, working_day=working_day)
    if allowed <= now:
        return None
    off = working_day is not None and allowed > next_allowed(now, local_zone, quiet)
    return allowed, Reason.DAY_OFF if off else Reason.QUIET_HOURS


def cap_window(plans: Iterable[Plan]) -> timedelta:
    days = [cap.per_days for plan in plans for cap in plan.caps]
    return timedelta(days=max(days)) if days else timedelta(0)
