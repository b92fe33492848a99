"""Which column holds what: the customer fields a column can fill, the header names each is
suggested for (Chinese and English, as order systems and people name them), and the header row
found among the first rows of a sheet (exports often start with a title or a date line)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huifang.rules.conditions import safe_key

from . import values
from .reading import Row

# A header row is looked for among this many first rows.
HEADER_SEARCH = 20


@dataclass(frozen=True)
class Target:
    """A field a column can fill: its key in the import (``phone``, ``attributes.store``), its
    label, how a cell becomes the stored value, and the header names it is suggested for."""

    key: str
    label: str | Promise
    parse: Callable[[Any], Any]
    headers: tuple[str, ...] = ()


CUSTOMER_TARGETS: tuple[Target, ...] = (
    Target(
        "external_id",
        _("Customer number"),
        values.bounded(128),
        (
            "客户编号",
            "会员编号",
            "会员号",
            "客户id",
            "客户代码",
            "卡号",
            "会员卡号",
            "编号",
            "externalid",
            "customerid",
            "memberid",
            "id",
        ),
    ),
    Target(
        "name",
        _("Customer name"),
        values.bounded(100),
        (
            "姓名",
            "客户姓名",
            "名字",
            "客户名称",
            "客户名",
            "联系人",
            "会员姓名",
            "name",
            "customername",
            "fullname",
        ),
    ),
    Target(
        "phone",
        _("Phone"),
        values.phone,
        (
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "电话号码",
            "联系方式",
            "移动电话",
            "mobile",
            "phone",
            "phonenumber",
            "tel",
            "cellphone",
            "mobilephone",
        ),
    ),
    Target(
        "email",
        pgettext_lazy("field", "E-mail"),
        values.email,
        ("邮箱", "电子邮箱", "邮件", "email", "e-mail", "mail"),
    ),
    Target(
        "birthday",
        _("Birthday"),
        values.day,
        ("生日", "出生日期", "出生年月日", "birthday", "dateofbirth", "dob"),
    ),
    Target("gender", _("Gender"), values.gender, ("性别", "gender", "sex")),
    Target(
        "tier",
        _("Tier"),
        values.tier,
        ("会员等级", "等级", "客户等级", "会员级别", "级别", "tier", "level", "membership"),
    ),
    Target(
        "lifecycle_stage",
        _("Lifecycle stage"),
        values.stage,
        ("客户阶段", "阶段", "lifecyclestage", "stage"),
    ),
    Target("company", _("Company"), values.bounded(100), ("公司", "公司名称", "单位", "company")),
    Target("province", _("Province"), values.bounded(32), ("省份", "省", "所在省份", "province")),
    Target("city", _("City"), values.bounded(32), ("城市", "所在城市", "市", "city")),
    Target("source", _("Source"), values.bounded(64), ("来源", "客户来源", "来源渠道", "source")),
    Target(
        "business_line",
        _("Business line"),
        values.bounded(64),
        ("业务线", "产品线", "businessline"),
    ),
    Target(
        "owner",
        _("Owner (username)"),
        values.bounded(150),
        ("负责人", "归属员工", "客户经理", "专属顾问", "owner"),
    ),
    Target("tags", _("Tags"), values.tags, ("标签", "客户标签", "tags", "tag")),
    Target("note", _("Note"), values.bounded(2000), ("备注", "说明", "note", "notes", "remark")),
    Target(
        "attributes.store",
        _("Store (custom attribute)"),
        values.bounded(200),
        ("门店", "所属门店", "店铺", "store", "shop"),
    ),
)


def _fold(header: str) -> str:
    """A header as compared: without bracketed notes (手机号码（必填）), marks, spaces, case."""
    bare = re.sub(r"[（(【\[].*?[）)】\]]", "", header)
    return re.sub(r"[\s*:：_\-·.]", "", bare).lower()


def suggest(headers: Sequence[str], targets: Sequence[Target] = CUSTOMER_TARGETS) -> dict[int, str]:
    """The target suggested for each column (0-based) whose header names one, each target at
    most once (the first column that names it)."""
    by_name = {_fold(name): target.key for target in targets for name in target.headers}
    chosen: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = by_name.get(_fold(header))
        if key is not None and key not in chosen.values():
            chosen[index] = key
    return chosen


def header_row(rows: Sequence[Row], targets: Sequence[Target] = CUSTOMER_TARGETS) -> int:
    """The index (0-based, among ``rows``) of the header: the first of the first rows naming
    the most known fields, else the first row that is not empty."""
    best, best_count = None, 0
    for index, row in enumerate(rows[:HEADER_SEARCH]):
        count = len(suggest([values.text(cell.value) for cell in row], targets))
        if count > best_count:
            best, best_count = index, count
    if best is not None:
        return best
    return next((i for i, row in enumerate(rows) if any(values.text(c.value) for c in row)), 0)


def target_for(key: str, targets: Sequence[Target] = CUSTOMER_TARGETS) -> Target | None:
    """A target by its key; ``attributes.<key>`` for any custom attribute with a safe key."""
    for target in targets:
        if target.key == key:
            return target
    prefix, _dot, name = key.partition(".")
    if prefix == "attributes" and safe_key(name):
        return Target(key, name, values.bounded(500))
    return None


def _customer_target(key: str, headers: tuple[str, ...]) -> Target:
    """A customer column of an events file: found by the same parser, fewer header names
    (an order file's 编号 or ID is the order's, not the customer's)."""
    found = next(t for t in CUSTOMER_TARGETS if t.key == key)
    return Target(key, found.label, found.parse, headers)


# The columns of an events file (orders, tickets, contracts …): who, what, when, and what the
# event carries. Keys other than the customer's, ``type``, ``occurred_at`` and
# ``idempotency_key`` are the event's properties (``properties.<key>`` for any other).
EVENT_TARGETS: tuple[Target, ...] = (
    _customer_target(
        "external_id",
        (
            "客户编号",
            "会员编号",
            "会员号",
            "客户id",
            "客户代码",
            "会员卡号",
            "卡号",
            "买家id",
            "用户id",
            "externalid",
            "customerid",
            "memberid",
            "customerexternalid",
        ),
    ),
    _customer_target(
        "name",
        (
            "姓名",
            "客户姓名",
            "客户名称",
            "客户",
            "会员姓名",
            "买家",
            "买家姓名",
            "收货人",
            "联系人",
            "name",
            "customername",
            "customer",
            "buyer",
        ),
    ),
    _customer_target(
        "phone",
        (
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "联系方式",
            "收货人手机",
            "收货人电话",
            "买家手机",
            "mobile",
            "phone",
            "tel",
        ),
    ),
    _customer_target("email", ("邮箱", "电子邮箱", "邮件", "email", "e-mail")),
    Target(
        "type",
        _("Event type"),
        values.bounded(64),
        ("事件类型", "事件", "类型", "业务类型", "记录类型", "type", "eventtype", "event"),
    ),
    Target(
        "occurred_at",
        _("When it happened"),
        values.moment,
        (
            "下单时间",
            "支付时间",
            "付款时间",
            "创建时间",
            "成交时间",
            "交易时间",
            "订单时间",
            "下单日期",
            "支付日期",
            "发生时间",
            "时间",
            "日期",
            "关闭时间",
            "完成时间",
            "签约日期",
            "签约时间",
            "到店时间",
            "occurredat",
            "date",
            "time",
            "orderdate",
            "createdat",
            "paidat",
        ),
    ),
    Target(
        "order_id",
        _("Order number"),
        values.bounded(128),
        ("订单号", "订单编号", "订单id", "单号", "交易号", "交易单号", "orderid", "orderno"),
    ),
    Target(
        "ticket_id",
        _("Ticket number"),
        values.bounded(128),
        ("工单号", "工单编号", "工单id", "服务单号", "ticketid", "ticketno", "ticketnumber"),
    ),
    Target(
        "contract_id",
        _("Contract number"),
        values.bounded(128),
        ("合同号", "合同编号", "合同id", "contractid", "contractno", "contractnumber"),
    ),
    Target(
        "idempotency_key",
        _("Event number (never imported twice)"),
        values.bounded(128),
        ("事件编号", "事件id", "流水号", "eventid", "idempotencykey"),
    ),
    Target(
        "amount",
        _("Amount"),
        values.paid,
        (
            "实付金额",
            "订单金额",
            "金额",
            "实付款",
            "支付金额",
            "付款金额",
            "成交金额",
            "消费金额",
            "合同金额",
            "amount",
            "total",
            "paid",
        ),
    ),
    Target(
        "product",
        _("Product"),
        values.bounded(200),
        (
            "商品",
            "商品名称",
            "产品",
            "产品名称",
            "宝贝名称",
            "品名",
            "服务项目",
            "项目",
            "product",
            "productname",
            "item",
            "items",
        ),
    ),
    Target(
        "category", _("Category"), values.bounded(100), ("类目", "商品类目", "品类", "category")
    ),
    Target(
        "quantity", _("Quantity"), values.count, ("数量", "购买数量", "件数", "quantity", "qty")
    ),
    Target(
        "store",
        _("Store"),
        values.bounded(200),
        ("门店", "店铺", "所属门店", "下单门店", "店铺名称", "门店名称", "store", "shop"),
    ),
    Target(
        "topic",
        _("Topic"),
        values.bounded(200),
        ("问题类型", "工单类型", "投诉类型", "主题", "topic"),
    ),
    Target(
        "text",
        _("Text"),
        values.bounded(2000),
        ("内容", "问题描述", "投诉内容", "描述", "备注", "text", "description", "note"),
    ),
    Target(
        "ends_on",
        _("Contract ends on"),
        values.day,
        ("合同到期日", "到期日", "到期日期", "合同到期时间", "合同结束日期", "endson", "enddate"),
    ),
    Target("plan", _("Plan"), values.bounded(100), ("套餐", "版本", "服务套餐", "plan")),
)

# The columns of an events file that find its customer, in the order they are tried.
EVENT_CUSTOMER_KEYS = ("external_id", "phone", "email")


def event_target_for(key: str) -> Target | None:
    """A target of an events file by its key; ``properties.<key>`` for any other property."""
    for target in EVENT_TARGETS:
        if target.key == key:
            return target
    prefix, _dot, name = key.partition(".")
    if prefix == "properties" and safe_key(name):
        return Target(key, name, values.bounded(500))
    return None
