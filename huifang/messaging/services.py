"""Saving and previewing message templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit import services as audit
from huifang.customers.models import Channel, Customer, Event
from huifang.rules.document import RuleDocument, RuleError

from . import links, sms
from .models import Asks, Message, MessageTemplate, TemplateVersion
from .rendering import (
    MAX_SUBJECT_CHARS,
    Context,
    TemplateError,
    names_used,
    render,
    validate,
    variables_used,
)

CONTENT = (
    "subject",
    "body",
    "sms_signature",
    "provider_template_code",
    "followup_url",
    "asks",
)


@dataclass(frozen=True)
class Saved:
    template: MessageTemplate
    version: TemplateVersion
    changed: bool


def check(channel: str, content: dict[str, str]) -> None:
    """Raise ``ValidationError`` naming each field that cannot be saved."""
    errors: dict[str, list[str]] = {}
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel “%(channel)s”.") % {"channel": channel}]
    if not content.get("body", "").strip():
        errors["body"] = [_("The body is empty.")]
    if len(content.get("subject", "")) > MAX_SUBJECT_CHARS:
        errors["subject"] = [
            _("A subject may be at most %(limit)s characters long.") % {"limit": MAX_SUBJECT_CHARS}
        ]
    for name in ("subject", "body"):
        try:
            validate(content.get(name, ""))
        except TemplateError as exc:
            errors.setdefault(name, []).append(str(exc))
    if channel == Channel.EMAIL and not content.get("subject", "").strip():
        errors["subject"] = [_("An e-mail template needs a subject.")]
    signature = content.get("sms_signature", "")
    if signature and not 2 <= len(signature) <= 12:
        errors["sms_signature"] = [_("An SMS signature is 2 to 12 characters, without 【】.")]
    if "【" in signature or "】" in signature:
        errors["sms_signature"] = [_("An SMS signature is 2 to 12 characters, without 【】.")]
    target = content.get("followup_url", "")
    if target and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", target):
        errors["followup_url"] = [_("The follow-up link must be an http:// or https:// address.")]
    if not target and any(
        name in ("回访链接", "links.followup")
        for field in ("subject", "body")
        if field not in errors
        for name in variables_used(content.get(field, ""))
    ):
        errors["followup_url"] = [
            _("The text uses {{回访链接}}: say where the follow-up link leads.")
        ]
    if content.get("asks", "") not in Asks.values:
        errors["asks"] = [
            _("“%(value)s” is not a score a message can ask for; one of: csat, nps, ces.")
            % {"value": content.get("asks")}
        ]
    if errors:
        raise ValidationError(errors)


def save_template(
    key: str,
    channel: str,
    *,
    name: str,
    body: str,
    subject: str = "",
    sms_signature: str = "",
    provider_template_code: str = "",
    followup_url: str = "",
    asks: str = "",
    actor: Any = None,
    comment: str = "",
) -> Saved:
    """Store the content as the template's next version (and make it current), unless it
    equals the current one. Nothing is written if any field is invalid."""
    content = {
        "subject": subject,
        "body": body,
        "sms_signature": sms_signature.strip(),
        "provider_template_code": provider_template_code.strip(),
        "followup_url": followup_url.strip(),
        "asks": asks,
    }
    check(channel, content)
    with transaction.atomic():
        template, _created = MessageTemplate.objects.select_for_update().get_or_create(
            key=key, channel=channel, defaults={"name": name or key}
        )
        current = template.current_version
        if current is not None and all(getattr(current, f) == content[f] for f in CONTENT):
            if name and template.name != name:
                template.name = name
                template.save(update_fields=["name", "updated_at"])
            return Saved(template, current, changed=False)
        number = (template.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = TemplateVersion.objects.create(
            template=template,
            number=number,
            comment=comment[:200],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            **content,
        )
        template.current_version = version
        template.name = name or template.name
        template.save(update_fields=["current_version", "name", "updated_at"])
        audit.record(
            audit.Action.TEMPLATE,
            "saved",
            actor=actor,
            target=template,
            object_repr=f"{template.name} ({template.key}, {template.channel})",
            details={"version": number, **({"comment": comment[:200]} if comment else {})},
        )
    return Saved(template, version, changed=True)


@dataclass(frozen=True)
class Preview:
    subject: str
    body: str
    sms: sms.SmsCount | None


def preview(
    version: TemplateVersion | dict[str, str],
    channel: str,
    customer: Customer,
    *,
    event: Event | None = None,
    now: datetime | None = None,
) -> Preview:
    """The message as ``customer`` would receive it now (links are shown as placeholders:
    they are made for each message when it is sent). ``TemplateError`` if it cannot render."""
    content = version if isinstance(version, dict) else {f: getattr(version, f) for f in CONTENT}
    if event is None:
        event = customer.events.order_by("-occurred_at", "-id").first()
    context = Context(
        customer,
        event,
        now=now or timezone.now(),
        links={
            "followup": _("[follow-up link]"),
            # A sample of a personal link's length (a short link), so the SMS count is true;
            # no customer's link is made for a preview, so no response is either.
            "survey": links.short_url(0, 0),
            "unsubscribe": _("[unsubscribe link]"),
        },
    )
    subject = render(content.get("subject", ""), context)
    body = render(content["body"], context)
    counted = None
    if channel == Channel.SMS:
        counted = sms.count(sms.with_signature(body, content.get("sms_signature", "")))
    return Preview(subject, body, counted)


LIBRARY = Path(__file__).resolve().parent / "library" / "templates.yaml"


def load_template_library(*, actor: Any = None) -> list[Saved]:
    """Save the ready strategies' message texts, each where no template of that key and
    channel exists yet: a template someone has written or edited is never replaced."""
    entries = yaml.safe_load(LIBRARY.read_text(encoding="utf-8")) or []
    existing = {
        (t.key, t.channel): t for t in MessageTemplate.objects.select_related("current_version")
    }
    saved = []
    for entry in entries:
        template = existing.get((entry["key"], entry["channel"]))
        if template is not None:
            if _declares_score(template, entry):
                saved.append(
                    save_template(
                        template.key,
                        template.channel,
                        name=template.name,
                        actor=actor,
                        comment="ready template: replies are read as a score",
                        **{f: getattr(template.current_version, f) for f in CONTENT}
                        | {"asks": entry["asks"]},
                    )
                )
            continue
        saved.append(
            save_template(
                entry["key"],
                entry["channel"],
                name=entry["name"],
                body=entry["body"],
                subject=entry.get("subject", ""),
                asks=entry.get("asks", ""),
                actor=actor,
                comment="ready template",
            )
        )
    return saved


def _declares_score(template: MessageTemplate, entry: dict[str, Any]) -> bool:
    """Whether a ready template saved before templates declared their score should now
    declare the one its library entry asks for: only while its text is still the library's
    (a text someone rewrote may no longer ask for a score)."""
    current = template.current_version
    return bool(
        entry.get("asks")
        and current is not None
        and not current.asks
        and current.body == entry["body"]
        and current.subject == entry.get("subject", "")
    )


def send_to_staff(
    provider: Any, *, body: str, subject: str = "", to: str = "", now: datetime | None = None
) -> Message:
    """Queue a staff notification (a robot's group, a user's in-app bell) on ``provider``:
    written in full by its sender, no customer, no gate; the dispatcher sends it in turn,
    within the provider's rate limit."""
    now = now or timezone.now()
    return Message.objects.create(
        customer=None,
        provider=provider,
        to=to,
        channel="",
        channels=[],
        template="",
        subject=subject[:200],
        body=body,
        status=Message.Status.QUEUED,
        planned_at=now,
        queued_at=now,
        ready_at=now,
        created_at=now,
        transactional=True,
    )


_SURVEY_LINK = frozenset({"问卷链接", "links.survey"})


def check_rule_templates(rule: RuleDocument) -> None:
    """``rules.document.references``: a message step whose template (any channel's current
    version) writes ``{{问卷链接}}`` names its questionnaire (``survey:``). Templates that do
    not exist yet are judged when they are written: the dispatcher drops such a message with
    the reason ``no_survey`` rather than send an empty link."""
    asking = [(i, s.send.template) for i, s in enumerate(rule.steps) if s.send and not s.survey]
    if not asking:
        return
    versions = TemplateVersion.objects.filter(
        template__key__in={key for _i, key in asking}, template__current_version__id=F("id")
    ).values_list("template__key", "subject", "body")
    wanting = {
        key for key, subject, body in versions if _SURVEY_LINK & {*_names(body), *_names(subject)}
    }
    for index, key in asking:
        if key in wanting:
            raise RuleError(
                f"steps.{index}.survey",
                _(
                    "The template “%(key)s” writes {{问卷链接}}: choose the questionnaire it "
                    "links to."
                )
                % {"key": key},
            )


def _names(source: str) -> tuple[str, ...]:
    if not source:
        return ()
    try:
        return names_used(source)
    except TemplateError:
        return ()


def rule_of_message(message_id: int) -> int | None:
    """``surveys.links.message_rule``: the rule that sent a message (``None`` for none)."""
    return Message.objects.filter(pk=message_id).values_list("rule_id", flat=True).first()
