"""Forms of the channels page: what every kind's settings form shares, the fields every
provider has, and the "send test" form.

A kind's settings form (``<kind>/forms.py``) names its fields after its pydantic ``Config``
and validates through it (the one place the rules live), as ``sms_http/forms.py`` does. Most
kinds subclass ``SettingsForm``, which does that once and keeps stored secrets: a secret field
left blank keeps the stored value, so it is required only while nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel
from pydantic import ValidationError as SettingsError

from huifang.customers.models import Channel
from huifang.customers.phones import normalize_phone

from .kinds import STAFF, Kind, kinds
from .models import Provider

KEEP = gettext_lazy("Stored encrypted and never shown again: leave blank to keep the stored value.")


def channel_label(channel: str) -> str:
    if channel == STAFF:
        return _("Staff")
    try:
        return str(Channel(channel).label)
    except ValueError:
        return channel


def secret_input() -> forms.PasswordInput:
    # A password manager must not offer the admin's own login for a provider's key.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def config_default(kind: str, name: str) -> Callable[[], Any]:
    """A form field's initial value read from the kind's ``Config`` when the form is shown
    (a callable: kinds are registered after their forms are defined)."""
    return lambda: kinds[kind].config.model_fields[name].default


def check_http_url(url: str) -> str:
    """An http(s) URL with a host. Not Django's URLField: it refuses intranet host names
    without a dot (http://smsgw:8080/), and internal addresses are the outbound guard's
    business, decided when the URL is called."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("Enter an http:// or https:// URL with a host."), code="invalid")
    return url


def clean_url_field(form: forms.Form, name: str) -> str:
    """A URL field's cleaned value; blank stays blank (a kept secret, or "required" says so)."""
    url = str(form.cleaned_data.get(name) or "")
    return check_http_url(url) if url.strip() else ""


def clean_signature(value: str) -> str:
    """An SMS signature without the 【】 that are added when sending; 12 characters at most,
    as Aliyun and Tencent allow."""
    signature = value.strip().strip("【】").strip()
    MaxLengthValidator(12)(signature)
    return signature


def show_settings_errors(form: forms.Form, exc: SettingsError, cleaned: Mapping[str, Any]) -> None:
    """Put the ``Config``'s complaints on the fields they concern."""
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else None
        if field in form.fields and field not in cleaned:
            continue  # the field's own error already says what is wrong
        # Our validators' messages are translated sentences; pydantic puts "Value error, "
        # in front, which an admin has no use for.
        message = error.get("ctx", {}).get("error") or error["msg"]
        form.add_error(field if field in form.fields else None, str(message))


class SettingsForm(forms.Form):
    """A kind's settings, one field per ``Config`` field; valid settings end on ``config``.

    ``stored``: the provider's stored secrets. A secret field left blank keeps its stored
    value (the widget never shows it), so it is required only while nothing is stored.
    """

    kind: ClassVar[str]

    def __init__(self, *args: Any, stored: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stored = {k: v for k, v in (stored or {}).items() if v not in ("", None)}
        self.config: BaseModel | None = None
        for name in self.spec.secrets:
            if name in self.stored and name in self.fields:
                self.fields[name].required = False

    @property
    def spec(self) -> Kind:
        return kinds[self.kind]

    @classmethod
    def initial_for(cls, config: BaseModel) -> dict[str, Any]:
        """The form's initial values for stored settings: every setting but the secrets."""
        return plain_initial(config, cls.kind)

    def values(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        """The ``Config`` values from the cleaned fields; a kind converts here if it must."""
        return {name: cleaned[name] for name in self.fields if name in cleaned}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = self.values(cleaned)
        for name in self.spec.secrets:
            if values.get(name) in ("", None) and name in self.stored:
                values[name] = self.stored[name]
        try:
            config = self.spec.config.model_validate(values)
        except SettingsError as exc:
            show_settings_errors(self, exc, cleaned)
            return cleaned
        if not self.errors:
            self.config = config
        return cleaned


def plain_initial(config: BaseModel, kind: str) -> dict[str, Any]:
    """A settings form's initial values for stored settings, secrets left out."""
    return config.model_dump(exclude=set(kinds[kind].secrets))


class ProviderForm(forms.ModelForm):
    """What every provider has, whatever its kind."""

    class Meta:
        model = Provider
        fields = ["name", "channel", "priority", "rate_per_minute", "enabled"]

    def __init__(self, *args: Any, spec: Kind, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(value, channel_label(value)) for value in spec.serves]
        self.fields["channel"] = forms.ChoiceField(
            label=gettext_lazy("Serves"),
            choices=choices,
            initial=spec.serves[0],
            help_text=gettext_lazy(
                "The customer channel this provider sends, or staff notifications."
            ),
        )
        rate = self.fields["rate_per_minute"]
        rate.validators.append(MinValueValidator(1))  # 0 would read as "the kind's own"
        rate.widget.attrs["min"] = 1
        if spec.rate_per_minute:
            rate.help_text = _(
                "Messages beyond this are held until the next minute, never dropped. "
                "Blank: %(count)s a minute, this kind's own limit."
            ) % {"count": spec.rate_per_minute}
        if not self.instance.pk:
            self.initial.setdefault("name", str(spec.label))


class SendTestForm(forms.Form):
    """Where a test message goes: a phone or an address the admin types, nothing for a robot
    (it posts in its group), the admin themself for an in-app notification."""

    def __init__(self, *args: Any, provider: Provider, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel = provider.channel
        if provider.channel == "sms":
            self.fields["to"] = forms.CharField(label=gettext_lazy("Phone number"), max_length=32)
            self.fields["template_code"] = forms.CharField(
                label=gettext_lazy("Provider template code"),
                required=False,
                max_length=64,
                help_text=gettext_lazy(
                    "Aliyun and Tencent Cloud send only templates approved in their console: "
                    "give the code of one, e.g. SMS_123456789."
                ),
            )
            self.fields["params"] = forms.CharField(
                label=gettext_lazy("Template variables"),
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2, "placeholder": "name=王小明"}),
                help_text=gettext_lazy("One name=value per line, in the template's order."),
            )
        elif provider.channel == "email":
            self.fields["to"] = forms.EmailField(label=gettext_lazy("E-mail address"))
        elif provider.channel != STAFF or provider.kind == "webhook":
            self.fields["to"] = forms.CharField(
                label=gettext_lazy("Recipient"), required=False, max_length=200
            )

    def clean_to(self) -> str:
        to = str(self.cleaned_data["to"]).strip()
        return normalize_phone(to) if self.channel == "sms" else to

    def clean_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["params"].splitlines(), start=1):
            if not line.strip():
                continue
            name, separator, value = line.partition("=")
            if not separator or not name.strip():
                raise ValidationError(
                    _("Line %(line)s is not name=value."), code="invalid", params={"line": number}
                )
            params[name.strip()] = value.strip()
        return params
