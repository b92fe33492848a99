"""A questionnaire over three pages for the answer-page tests, and its personal links."""

from __future__ import annotations

from django.urls import reverse

from huifang.customers.models import Customer
from huifang.surveys.document import load_survey_text
from huifang.surveys.links import token_for
from huifang.surveys.models import SurveyVersion
from huifang.surveys.services import save_survey

# Page 1: a CSAT that jumps past page 2 when it is 4 or 5. Page 2: why (required) and a note.
# Page 3: a comment and an NPS.
FLOW = """
key: flow-check
name: 服务回访问卷
description: 只需一分钟
questions:
  - id: csat
    type: csat
    title: 您对这次服务满意吗？
    required: true
    jumps:
      - when: {gte: 4}
        goto: comment
  - id: why
    type: single_choice
    title: 哪里让您不满意？
    page: 2
    required: true
    options:
      - {value: quality, label: 服务质量}
      - {value: waiting, label: 等待时间}
  - id: detail
    type: text
    title: 还有什么要补充的？
  - id: comment
    type: long_text
    title: 还有什么想对我们说的？
    page: 3
  - id: nps
    type: nps
    title: 您有多大可能把我们推荐给朋友？
thank_you: 感谢您的反馈，祝您生活愉快！
"""


def flow_version() -> SurveyVersion:
    return save_survey(load_survey_text(FLOW)).version


def url(
    version: SurveyVersion, customer: Customer, message_id: int | None = 7, channel: str = "sms"
) -> str:
    token = token_for(version, customer, message_id=message_id, channel=channel)
    return reverse("surveys:answer", args=[token])
