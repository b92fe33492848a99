"""Where providers push what comes back: receipts and replies, one URL per provider and kind.

Every URL carries the provider's id and its token (``callbacks.token_for``); the channels page
shows them (``callbacks.urls_for``) for an admin to paste into the provider's console.
"""

from django.urls import path

from .email import views as email
from .sms_aliyun import views as aliyun
from .sms_tencent import views as tencent

app_name = "inbound"

urlpatterns = [
    path("aliyun-sms/<int:provider_id>/<str:token>/report", aliyun.report, name="aliyun_report"),
    path("aliyun-sms/<int:provider_id>/<str:token>/reply", aliyun.reply, name="aliyun_reply"),
    path("tencent-sms/<int:provider_id>/<str:token>/report", tencent.report, name="tencent_report"),
    path("tencent-sms/<int:provider_id>/<str:token>/reply", tencent.reply, name="tencent_reply"),
    path("email/<int:provider_id>/<str:token>/reply", email.reply, name="email_reply"),
]
