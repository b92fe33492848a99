"""The channels page: the providers messages go out through, for administrators only.

Generic over kinds: each kind brings its settings form (``Kind.form``, whose
``initial_for(config)`` turns stored settings into the form's initial values), shown under the
fields every provider has. Secrets are never written back into a page: a secret field left
blank keeps the stored value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from pydantic import BaseModel
from pydantic import ValidationError as SettingsError

from huifang.accounts.permissions import requires
from huifang.audit import services as audit
from huifang.customers.models import Channel
from huifang.organisation import services as organisation

from .callbacks import LABELS as CALLBACK_LABELS
from .callbacks import urls_for
from .forms import ProviderForm, SendTestForm, SettingsForm, channel_label
from .kinds import STAFF, Kind, kinds
from .models import Provider
from .secrets import UnreadableSecrets
from .services import SendTestResult, keep_secrets, make_test_message, save_settings, send_test
from .services import set_enabled as store_enabled

# The groups of the list, in this order; phone calls are staff tasks, not messages.
GROUPS = (Channel.SMS.value, Channel.EMAIL.value, Channel.WECOM.value, STAFF)
SETTINGS_PREFIX = "settings"  # kind fields can never collide with the generic ones


@dataclass
class Row:
    provider: Provider
    unreadable: bool = False  # secrets the current key cannot decrypt
    in_use: bool = False  # the one its channel's messages go out through

    @property
    def known(self) -> bool:
        """Whether its kind is still installed (a row outlives a removed kind)."""
        return self.provider.kind in kinds

    @property
    def limit(self) -> int | None:
        return self.provider.limit if self.known else self.provider.rate_per_minute


@dataclass
class Group:
    channel: str
    label: str
    rows: list[Row] = field(default_factory=list)

    @property
    def only_logged(self) -> bool:
        """A customer channel nothing sends: its messages go to the log transport."""
        return self.channel != STAFF and not any(r.in_use for r in self.rows)


def _unreadable(provider: Provider) -> bool:
    try:
        provider.secrets()
    except UnreadableSecrets:
        return True
    return False


@requires("provider", "manage")
def provider_list(request: HttpRequest) -> HttpResponse:
    groups = {channel: Group(channel, channel_label(channel)) for channel in GROUPS}
    for provider in Provider.objects.order_by("priority", "id"):
        group = groups.setdefault(
            provider.channel, Group(provider.channel, channel_label(provider.channel))
        )
        in_use = provider.enabled and not any(r.in_use for r in group.rows)
        group.rows.append(Row(provider, _unreadable(provider), in_use))
    context = {"groups": list(groups.values()), "address": _address(request), "staff": STAFF}
    return render(request, "integrations/list.html", context)


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _address(request: HttpRequest) -> dict[str, Any] | None:
    """What the channels page says about the links' address while ``BASE_URL`` is not set:
    the address in use, and the one this page was opened at (the Host header has passed
    ``ALLOWED_HOSTS``), offered when it differs and is not this machine's own."""
    if settings.HUIFANG_BASE_URL_SET:
        return None
    seen = organisation.public_url_of(request.build_absolute_uri("/"))
    in_use = organisation.base_url()
    return {
        "in_use": in_use,
        "local": urlsplit(in_use).hostname in LOCAL_HOSTS,
        "seen": seen
        if seen and seen != in_use and urlsplit(seen).hostname not in LOCAL_HOSTS
        else "",
    }


@require_POST
@requires("provider", "manage")
def public_address(request: HttpRequest) -> HttpResponse:
    """Confirm the address customers reach this installation at (while ``BASE_URL`` is not
    set): the links of messages prepared from now on start with it."""
    url = organisation.public_url_of(request.POST.get("url", ""))
    if settings.HUIFANG_BASE_URL_SET:
        messages.info(request, _("BASE_URL is set; it decides the links' address."))
    elif not url:
        messages.error(request, _("Not an address: it must look like https://huifang.example.com."))
    else:
        organisation.save_public_url(url, actor=request.user)
        messages.success(request, _("Links in messages now start with %(url)s.") % {"url": url})
    return redirect("integrations:list")


@requires("provider", "manage")
def choose_kind(request: HttpRequest) -> HttpResponse:
    choices = [
        (spec, [channel_label(c) for c in spec.serves]) for spec in kinds if spec.form is not None
    ]
    return render(request, "integrations/choose.html", {"choices": choices})


# -- add and edit ----------------------------------------------------------------------------


def _spec(key: str) -> Kind:
    spec = kinds.get(key)
    if spec is None or spec.form is None:
        raise Http404("no such kind of provider")
    return spec


def _settings_form(
    spec: Kind,
    data: Any = None,
    *,
    initial: dict[str, Any] | None = None,
    stored: dict[str, Any] | None = None,
) -> forms.Form:
    assert spec.form is not None
    options: dict[str, Any] = {"prefix": SETTINGS_PREFIX, "initial": initial}
    if issubclass(spec.form, SettingsForm):
        options["stored"] = stored  # a required secret may then be left blank
    return spec.form(data, **options)


def _initial(spec: Kind, provider: Provider) -> dict[str, Any]:
    """The settings form's initial values: the stored settings without their secrets.
    Built without validation, so settings an older version wrote still show."""
    assert spec.form is not None
    config = spec.config.model_construct(**provider.config)
    return dict(spec.form.initial_for(config))  # type: ignore[attr-defined]


def _forgettable(spec: Kind) -> list[str]:
    """Secrets the kind can do without (a robot's signing secret), so an admin may clear."""
    return [n for n in spec.secrets if not spec.config.model_fields[n].is_required()]


@dataclass(frozen=True)
class FieldRow:
    field: forms.BoundField
    secret: bool = False
    stored: bool = False  # a secret with a stored value
    forgettable: bool = False


def _rows(form: forms.BaseForm, spec: Kind, stored: dict[str, Any]) -> list[FieldRow]:
    forgettable = _forgettable(spec)
    return [
        FieldRow(
            bound,
            bound.name in spec.secrets,
            bound.name in stored,
            bound.name in forgettable and bound.name in stored,
        )
        for bound in form
    ]


def _dress(*forms_: forms.BaseForm) -> None:
    """Bootstrap's classes on every widget, and its error state on fields with errors."""
    for form in forms_:
        for name, form_field in form.fields.items():
            widget = form_field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if form.is_bound and name in form.errors:
                css += " is-invalid"
            widget.attrs["class"] = css


def _page(
    request: HttpRequest,
    spec: Kind,
    provider_form: ProviderForm,
    settings_form: forms.Form,
    *,
    provider: Provider | None = None,
    stored: dict[str, Any] | None = None,
    unreadable: bool = False,
    test: dict[str, Any] | None = None,
) -> HttpResponse:
    _dress(provider_form, settings_form)
    context = {
        "spec": spec,
        "provider": provider,
        "provider_form": provider_form,
        "settings_form": settings_form,
        "settings_rows": _rows(settings_form, spec, stored or {}),
        "unreadable": unreadable,
        "test": test or (_test_context(provider) if provider else None),
        # Where the provider pushes receipts and replies, to paste into its console.
        "callbacks": [
            (CALLBACK_LABELS.get(key, key), url)
            for key, url in (urls_for(provider).items() if provider else ())
        ],
    }
    return render(request, "integrations/form.html", context)


def _stored(provider: Provider) -> tuple[dict[str, Any], bool]:
    """The provider's secrets, and whether the current key could not read them."""
    try:
        return provider.secrets(), False
    except UnreadableSecrets:
        return {}, True


def _save(
    request: HttpRequest, spec: Kind, provider: Provider | None, stored: dict[str, Any]
) -> tuple[ProviderForm, forms.Form, Provider | None]:
    provider_form = ProviderForm(request.POST, instance=provider, spec=spec)
    settings_form = _settings_form(spec, request.POST, stored=stored)
    if not (provider_form.is_valid() and settings_form.is_valid()):
        return provider_form, settings_form, None
    config: BaseModel = settings_form.config  # type: ignore[attr-defined]
    with transaction.atomic():
        saved = save_settings(
            provider=provider_form.save(commit=False),
            spec=spec,
            config=keep_secrets(spec, config, stored),
        )
        # Which settings changed, by name: never their values (some are secrets).
        changed = sorted({*provider_form.changed_data, *settings_form.changed_data} - {"forget"})
        _audit(request, saved, "added" if provider is None else "changed", changed=changed)
    return provider_form, settings_form, saved


def _audit(request: HttpRequest, provider: Provider, verb: str, **details: Any) -> None:
    audit.record(
        audit.Action.PROVIDER,
        verb,
        request=request,
        target=provider,
        object_repr=f"{provider.name} ({provider.kind})",
        details=details,
    )


@requires("provider", "manage")
def add(request: HttpRequest, kind: str) -> HttpResponse:
    spec = _spec(kind)
    if request.method != "POST":
        return _page(request, spec, ProviderForm(spec=spec), _settings_form(spec))
    provider_form, settings_form, saved = _save(request, spec, None, {})
    if saved is None:
        return _page(request, spec, provider_form, settings_form)
    messages.success(
        request,
        _("“%(name)s” is saved. Send a test message to check its settings.") % {"name": saved},
    )
    return redirect("integrations:edit", saved.pk)


@requires("provider", "manage")
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    spec = _spec(provider.kind)
    stored, unreadable = _stored(provider)
    if request.method != "POST":
        return _page(
            request,
            spec,
            ProviderForm(instance=provider, spec=spec),
            _settings_form(spec, initial=_initial(spec, provider), stored=stored),
            provider=provider,
            stored=stored,
            unreadable=unreadable,
        )
    forget = set(request.POST.getlist("forget")) & set(_forgettable(spec))
    stored = {name: value for name, value in stored.items() if name not in forget}
    provider_form, settings_form, saved = _save(request, spec, provider, stored)
    if saved is None:
        provider.refresh_from_db()  # the failed form must not rename the page's heading
        return _page(
            request,
            spec,
            provider_form,
            settings_form,
            provider=provider,
            stored=stored,
            unreadable=unreadable,
        )
    messages.success(request, _("“%(name)s” is saved.") % {"name": saved})
    return redirect("integrations:edit", saved.pk)


# -- enable, disable, delete -------------------------------------------------------------------


def _set_enabled(request: HttpRequest, pk: int, enabled: bool) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    with transaction.atomic():
        store_enabled(provider=provider, enabled=enabled)
        _audit(request, provider, "enabled" if enabled else "disabled")
    if enabled:
        messages.success(request, _("“%(name)s” is enabled.") % {"name": provider})
    else:
        messages.success(request, _("“%(name)s” is disabled.") % {"name": provider})
    return redirect("integrations:list")


@require_POST
@requires("provider", "manage")
def enable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, True)


@require_POST
@requires("provider", "manage")
def disable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, False)


@requires("provider", "manage")
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    if request.method == "POST":
        name = provider.name
        with transaction.atomic():
            _audit(request, provider, "deleted")
            provider.delete()  # its messages keep their history; their provider becomes empty
        messages.success(request, _("“%(name)s” is deleted.") % {"name": name})
        return redirect("integrations:list")
    sent = provider.messages.count()
    return render(request, "integrations/delete.html", {"provider": provider, "sent": sent})


# -- send test ---------------------------------------------------------------------------------


def _test_context(
    provider: Provider,
    form: SendTestForm | None = None,
    result: SendTestResult | None = None,
    problem: str = "",
) -> dict[str, Any]:
    form = form or SendTestForm(provider=provider)
    _dress(form)
    return {"provider": provider, "form": form, "result": result, "problem": problem}


def _send(request: HttpRequest, provider: Provider, form: SendTestForm) -> dict[str, Any]:
    data = form.cleaned_data
    # In-app notifications go to a member of staff by id: to the admin trying it.
    to = str(request.user.pk) if provider.kind == "inapp" else data.get("to", "")
    outgoing = make_test_message(
        provider=provider,
        to=to,
        template_code=data.get("template_code", ""),
        params=data.get("params") or {},
    )
    try:
        result = send_test(provider=provider, outgoing=outgoing, request=request)
    except UnreadableSecrets:
        return _test_context(provider, form, problem=_reenter())
    except SettingsError:
        problem = _("The stored settings no longer fit this kind of provider: edit them and save.")
        return _test_context(provider, form, problem=problem)
    return _test_context(provider, form, result=result)


def _reenter() -> str:
    return _(
        "The stored secrets cannot be read with the current key (SECRETS_KEY or SECRET_KEY "
        "changed). Re-enter the secrets and save."
    )


@require_POST
@requires("provider", "manage")
def send_test_message(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    spec = _spec(provider.kind)
    form = SendTestForm(request.POST, provider=provider)
    context = _send(request, provider, form) if form.is_valid() else _test_context(provider, form)
    if request.headers.get("HX-Request"):
        return render(request, "integrations/_test.html", {"test": context})
    stored, unreadable = _stored(provider)
    return _page(
        request,
        spec,
        ProviderForm(instance=provider, spec=spec),
        _settings_form(spec, initial=_initial(spec, provider), stored=stored),
        provider=provider,
        stored=stored,
        unreadable=unreadable,
        test=context,
    )
