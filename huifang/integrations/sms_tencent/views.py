"""Tencent Cloud's callbacks: receipts and replies (the work is in ``inbound``)."""

from __future__ import annotations

from huifang.integrations.callbacks import push_view

from . import inbound

report = push_view("sms_tencent", inbound.handle_reports, inbound.answer)
reply = push_view("sms_tencent", inbound.handle_replies, inbound.answer)
