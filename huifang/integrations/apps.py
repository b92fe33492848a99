from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# Every folder here with a transport an admin can configure.
KINDS = (
    "email",
    "sms_aliyun",
    "sms_tencent",
    "sms_http",
    "dingtalk",
    "feishu",
    "wecom",
    "webhook",
    "inapp",
)


class IntegrationsConfig(AppConfig):
    """Providers: the configured accounts messages go out through (one folder per kind)."""

    name = "huifang.integrations"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from importlib import import_module

        from .kinds import kinds

        for folder in KINDS:
            try:
                module = import_module(f"{self.name}.{folder}.transport")
            except ModuleNotFoundError as exc:
                if exc.name not in (f"{self.name}.{folder}", f"{self.name}.{folder}.transport"):
                    raise
                continue
            kind = getattr(module, "KIND", None)
            if kind is not None and kind.key not in kinds:
                kinds.register(kind)
