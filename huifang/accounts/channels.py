"""Where a member of staff is told about their work: the channels they can choose on their
profile (``StaffProfile.notify_channels``) and the id each robot mentions them by
(``StaffProfile.contact_ids``). Delivery is the tasks app's (``huifang.tasks.notifications``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

IN_APP = "in_app"
CHOICES = [
    (IN_APP, _("In-app (bell)")),
    ("wecom", _("WeCom robot mention")),
    ("dingtalk", _("DingTalk robot mention")),
    ("feishu", _("Feishu robot mention")),
    ("email", _("E-mail")),
]
# channel → the key of ``contact_ids`` its robot mentions the person by
CONTACT_IDS = {
    "wecom": ("wecom_userid", _("WeCom user id")),
    "dingtalk": ("dingtalk_userid", _("DingTalk user id")),
    "feishu": ("feishu_open_id", _("Feishu open id")),
}
