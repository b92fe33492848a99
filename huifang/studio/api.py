"""REST endpoints for rules (mounted under ``/api/v1``): list, read, activate the latest
version, pause, resume, and simulate — the same services and checks as the rule pages
(``preview.py``, ``state.py``), each change kept in the rule's history and the audit log under
the token's name.

A simulation runs the engine over every customer for the days asked, inside a transaction that
is rolled back: it is bounded to ``SIMULATE_MAX_DAYS`` days (the schema says so) and refused
with 422 when there are more than ``SIMULATE_MAX_CUSTOMERS`` customers (the rule's preview page
has no such limit, it runs for signed-in staff one at a time)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, REFUSALS, ErrorOut, Moment, inline
from huifang.customers.models import Customer
from huifang.engine.lifecycle import activate, pause, resume
from huifang.rules.document import RuleError, parse_rule
from huifang.rules.models import Rule, RuleVersion
from huifang.rules.plans import plan

from .simulate import SimulationError, simulate

router = Router(tags=["rules"])
KEY = Path(..., min_length=1, max_length=80, pattern=r"^[-a-zA-Z0-9_]+$")
RuleStatus = Annotated[Rule.Status, inline(Rule.Status)]
InFlightChoice = Literal["keep", "move", "end"]  # InFlight.choices

SIMULATE_MAX_DAYS = 30
SIMULATE_MAX_CUSTOMERS = 20_000


class RuleOut(Schema):
    key: str
    name: str
    status: RuleStatus
    version: int | None = Field(..., description="The number of the version that runs.")
    latest_version: int | None = Field(..., description="The newest saved version.")
    created_at: datetime
    updated_at: datetime


class RuleDetailOut(RuleOut):
    document: dict[str, Any] | None = Field(..., description="The latest version's content.")


class RulePage(Schema):
    items: list[RuleOut]
    next_cursor: str | None


class ActivateIn(Schema):
    version: int = Field(
        ...,
        ge=1,
        le=2**31 - 1,
        description="The latest version's number: a newer one saved meanwhile is refused (409).",
    )
    comment: str = Field(..., min_length=1, max_length=200, pattern=r"\S", description="Why.")
    in_flight: InFlightChoice = Field(
        "keep",
        description="Customers part-way through an older version: keep, move or end.",
    )


class ReasonIn(Schema):
    reason: str = Field(..., min_length=1, max_length=200, pattern=r"\S")


class ResumeIn(Schema):
    reason: str = Field("", max_length=200)


class SimulateIn(Schema):
    days: int = Field(14, ge=1, le=SIMULATE_MAX_DAYS)
    start: Moment | None = Field(None, description="Default: now.")


class SimulationOut(Schema):
    rule: str
    version: int
    report: dict[str, Any] = Field(
        ...,
        description="What the engine would do, per day and in total: enrollments, messages "
        "per channel, tasks, deferrals and drops with their reasons, as the preview page shows.",
    )


def _rules() -> QuerySet[Rule]:
    return Rule.objects.select_related("current_version")


def _out(rule: Rule) -> dict[str, Any]:
    latest = rule.latest_version()
    return {
        "key": rule.key,
        "name": rule.name,
        "status": rule.status,
        "version": rule.current_version.number if rule.current_version else None,
        "latest_version": latest.number if latest else None,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def _rule_or_404(key: str) -> Rule:
    rule = _rules().filter(key=key).first()
    if rule is None:
        raise ApiError(404, "unknown_rule", _("There is no rule “%(key)s”.") % {"key": key})
    return rule


def _latest(rule: Rule) -> RuleVersion:
    version = rule.latest_version()
    if version is None:
        raise ApiError(409, "no_version", _("This rule has no saved version yet."))
    return version


def _not_now(rule: Rule) -> ApiError:
    return ApiError(
        409,
        "wrong_status",
        _("Nothing changed: the strategy is %(status)s now.")
        % {"status": rule.get_status_display()},
    )


@router.get(
    "/rules",
    auth=TokenAuth("rule", "view"),
    response={200: RulePage, **READ_REFUSALS},
    summary="List rules, newest first",
)
def list_rules(
    request: HttpRequest,
    paging: Query[PageQuery],
    status: RuleStatus | None = None,
) -> dict[str, Any]:
    rules = _rules()
    if status is not None:
        rules = rules.filter(status=status.value)
    rows, cursor = page(rules, paging)
    return answer([_out(r) for r in rows], cursor)


@router.get(
    "/rules/{key}",
    auth=TokenAuth("rule", "view"),
    response={200: RuleDetailOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a rule with its latest version",
)
def get_rule(request: HttpRequest, key: str = KEY) -> dict[str, Any]:
    rule = _rule_or_404(key)
    latest = rule.latest_version()
    return {**_out(rule), "document": latest.content if latest else None}


@router.post(
    "/rules/{key}/activate",
    auth=TokenAuth("rule", "edit"),
    response={200: RuleOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Make the latest version the one that runs",
)
def activate_rule(request: HttpRequest, payload: ActivateIn, key: str = KEY) -> dict[str, Any]:
    rule = _rule_or_404(key)
    version = _latest(rule)
    if payload.version != version.number:
        raise ApiError(
            409,
            "version_changed",
            _("Version %(n)s was saved after this preview: look at its impact first.")
            % {"n": version.number},
            field="version",
        )
    if rule.current_version_id == version.pk and rule.status in (
        Rule.Status.ACTIVE,
        Rule.Status.PAUSED,
    ):
        raise ApiError(
            409, "already_running", _("Version %(n)s already runs.") % {"n": version.number}
        )
    if (problem := plan(version.pk).problem) is not None:
        raise ApiError(
            422,
            "rule_cannot_run",
            _("Version %(n)s cannot run: %(why)s Save a corrected version first.")
            % {"n": version.number, "why": problem.message},
        )
    activate(
        rule,
        version,
        in_flight=str(payload.in_flight),
        actor=request.auth,  # type: ignore[attr-defined]
        comment=payload.comment,
    )
    return _out(_rule_or_404(key))


@router.post(
    "/rules/{key}/pause",
    auth=TokenAuth("rule", "edit"),
    response={200: RuleOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Pause a running rule: nothing new starts, pending steps wait",
)
def pause_rule(request: HttpRequest, payload: ReasonIn, key: str = KEY) -> dict[str, Any]:
    rule = _rule_or_404(key)
    if rule.status != Rule.Status.ACTIVE:
        raise _not_now(rule)
    pause([rule], actor=request.auth, comment=payload.reason)  # type: ignore[attr-defined]
    return _out(_rule_or_404(key))


@router.post(
    "/rules/{key}/resume",
    auth=TokenAuth("rule", "edit"),
    response={200: RuleOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Run a paused rule again",
)
def resume_rule(request: HttpRequest, payload: ResumeIn, key: str = KEY) -> dict[str, Any]:
    rule = _rule_or_404(key)
    if rule.status != Rule.Status.PAUSED:
        raise _not_now(rule)
    resume([rule], actor=request.auth, comment=payload.reason.strip())  # type: ignore[attr-defined]
    return _out(_rule_or_404(key))


@router.post(
    "/rules/{key}/simulate",
    auth=TokenAuth("rule", "view"),
    response={200: SimulationOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="What the latest version would do over the next days (nothing is changed)",
)
def simulate_rule(request: HttpRequest, payload: SimulateIn, key: str = KEY) -> dict[str, Any]:
    rule = _rule_or_404(key)
    version = _latest(rule)
    customers = Customer.objects.count()
    if customers > SIMULATE_MAX_CUSTOMERS:
        raise ApiError(
            422,
            "simulation_too_large",
            _(
                "A simulation through the API covers at most %(limit)s customers; there are "
                "%(count)s. Use the rule's preview page instead."
            )
            % {"limit": f"{SIMULATE_MAX_CUSTOMERS:,}", "count": f"{customers:,}"},
        )
    try:
        document = parse_rule(version.content)
        report = simulate(
            payload.start or timezone.now(), payload.days, documents=[document], project=True
        )
    except (SimulationError, RuleError) as exc:
        raise ApiError(422, "simulation_refused", str(exc)) from None
    return {"rule": rule.key, "version": version.number, "report": report}
