"""The customer list: search, filters, sorting and keyset pagination."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from huifang.core import pagination
from huifang.customers.models import ContactPoint, Customer, Tag
from huifang.organisation import services as organisation


def names(response: Any) -> list[str]:
    return re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', response.content.decode())


@pytest.mark.parametrize(
    "typed",
    ["138 0013 8000", "+86 13800138000", "13800138000", "+86-138-0013-8000", "0086 138 0013 8000"],
)
def test_it_finds_a_customer_by_phone_typed_any_way(
    bob_client: Client, customer: Customer, typed: str
) -> None:
    Customer.objects.create(name="别人", phone="+8613900139000")
    assert names(bob_client.get("/customers/", {"q": typed})) == ["王小明"]


def test_it_finds_a_customer_by_an_extra_phone(bob_client: Client, customer: Customer) -> None:
    ContactPoint.objects.create(customer=customer, kind="phone", value="+8613700137000")
    assert names(bob_client.get("/customers/", {"q": "137 0013 7000"})) == ["王小明"]


def test_it_finds_by_external_id_and_by_name_prefix(bob_client: Client, customer: Customer) -> None:
    Customer.objects.create(name="王大明", external_id="C-2")
    assert names(bob_client.get("/customers/", {"q": "C-1"})) == ["王小明"]
    assert names(bob_client.get("/customers/", {"q": "王小"})) == ["王小明"]
    assert sorted(names(bob_client.get("/customers/", {"q": "王"}))) == ["王大明", "王小明"]
    # names match from their start, which an index answers at a million customers
    assert names(bob_client.get("/customers/", {"q": "小明"})) == []


@pytest.mark.parametrize("typed", ["尾号8000", "尾号 8000", "8000", "138000", "1380013", "13800"])
def test_it_finds_a_customer_by_part_of_the_phone_from_either_end(
    bob_client: Client, customer: Customer, typed: str
) -> None:
    Customer.objects.create(name="别人", phone="+8613900139001")
    Customer.objects.create(name="无电话")
    assert names(bob_client.get("/customers/", {"q": typed})) == ["王小明"]


def test_a_part_from_the_middle_of_a_number_or_a_short_one_finds_nobody(
    bob_client: Client, customer: Customer
) -> None:
    assert customer.phone == "+8613800138000"
    assert names(bob_client.get("/customers/", {"q": "0013"})) == []  # in the middle
    assert names(bob_client.get("/customers/", {"q": "000"})) == []  # under four digits
    assert names(bob_client.get("/customers/", {"q": "尾号138"})) == []


def test_the_last_four_digits_are_kept_by_the_database(customer: Customer) -> None:
    assert Customer.objects.get(pk=customer.pk).phone_tail == "8000"
    Customer.objects.filter(pk=customer.pk).update(phone="+8613700137123")  # not through save()
    assert Customer.objects.get(pk=customer.pk).phone_tail == "7123"
    Customer.objects.bulk_create([Customer(name="批量", phone="+8613600136456")])
    assert Customer.objects.get(name="批量").phone_tail == "6456"


def test_province_and_city_match_from_their_start(bob_client: Client) -> None:
    Customer.objects.create(name="甲", province="广东省", city="深圳市")
    Customer.objects.create(name="乙", province="广西壮族自治区", city="南宁市")
    assert names(bob_client.get("/customers/", {"province": "广东"})) == ["甲"]
    assert sorted(names(bob_client.get("/customers/", {"province": "广"}))) == ["乙", "甲"]
    assert names(bob_client.get("/customers/", {"city": "深圳"})) == ["甲"]
    assert names(bob_client.get("/customers/", {"province": "东省"})) == []


def test_filters_narrow_the_list(bob_client: Client, bob: Any) -> None:
    vip = Customer.objects.create(
        name="甲",
        tier="vip",
        province="广东省",
        city="深圳市",
        owner=bob,
        lifecycle_stage="dormant",
    )
    Customer.objects.create(name="乙", tier="regular", province="广东省", city="广州市")
    Customer.objects.create(name="丙", tier="regular", province="浙江省", city="杭州市")
    tag = Tag.objects.create(name="会员")
    vip.tags.add(tag)
    assert names(bob_client.get("/customers/", {"tier": "vip"})) == ["甲"]
    assert names(bob_client.get("/customers/", {"stage": "dormant"})) == ["甲"]
    assert names(bob_client.get("/customers/", {"tag": tag.pk})) == ["甲"]
    assert sorted(names(bob_client.get("/customers/", {"province": "广东省"}))) == ["乙", "甲"]
    assert names(bob_client.get("/customers/", {"city": "杭州市"})) == ["丙"]
    assert names(bob_client.get("/customers/", {"owner": bob.pk})) == ["甲"]
    assert sorted(names(bob_client.get("/customers/", {"owner": "none"}))) == ["丙", "乙"]


def test_sorting(bob_client: Client) -> None:
    for name, spend, orders in [("b", 10, 3), ("a", 30, 1), ("c", 20, 2)]:
        Customer.objects.create(name=name, total_spend=Decimal(spend), order_count=orders)
    assert names(bob_client.get("/customers/", {"sort": "name"})) == ["a", "b", "c"]
    assert names(bob_client.get("/customers/", {"sort": "spend"})) == ["a", "c", "b"]
    assert names(bob_client.get("/customers/", {"sort": "orders"})) == ["b", "c", "a"]
    assert names(bob_client.get("/customers/")) == ["c", "a", "b"]  # newest first


@pytest.mark.parametrize("sort", ["newest", "name", "spend", "orders"])
def test_following_the_cursors_visits_everyone_once(bob_client: Client, sort: str) -> None:
    Customer.objects.bulk_create(
        Customer(name=f"客户{i % 7}", total_spend=Decimal(i % 5), order_count=i % 3)
        for i in range(60)
    )
    seen: list[str] = []
    pages = []
    url, params = "/customers/", {"sort": sort}
    while True:
        response = bob_client.get(url, params)
        html = response.content.decode()
        pages.append(html)
        seen += re.findall(r'<a href="/customers/(\d+)/">', html)
        cursor = re.search(r'href="\?[^"]*after=([^"&]+)"', html)
        if not cursor:
            break
        params = {"sort": sort, "after": _unescape(cursor.group(1))}
    assert len(pages) == 3
    assert sorted(seen, key=int) == sorted(
        (str(pk) for pk in Customer.objects.values_list("pk", flat=True)), key=int
    )
    back = re.search(r'href="\?[^"]*before=([^"&]+)"', pages[1])
    assert back
    first_again = bob_client.get(url, {"sort": sort, "before": _unescape(back.group(1))})
    assert re.findall(r'<a href="/customers/(\d+)/">', first_again.content.decode()) == re.findall(
        r'<a href="/customers/(\d+)/">', pages[0]
    )


def _unescape(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value.replace("&amp;", "&"))


def test_a_tampered_cursor_gives_the_first_page(bob_client: Client, customer: Customer) -> None:
    response = bob_client.get("/customers/", {"after": "forged:cursor"})
    assert response.status_code == 200
    assert names(response) == ["王小明"]


def test_a_large_count_is_shown_capped(bob_client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    Customer.objects.bulk_create(Customer(name=f"c{i}") for i in range(8))
    with_cap = bob_client.get("/customers/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "More than 5 customers" in with_cap


def test_an_htmx_request_gets_only_the_results(bob_client: Client, customer: Customer) -> None:
    html = bob_client.get("/customers/", {"q": "王"}, HTTP_HX_REQUEST="true").content.decode()
    assert "王小明" in html
    assert "<html" not in html


def test_the_query_count_does_not_grow_with_the_rows(bob_client: Client) -> None:
    tag = Tag.objects.create(name="会员")

    def queries_for(count: int) -> int:
        Customer.objects.all().delete()
        made = Customer.objects.bulk_create(Customer(name=f"c{i}") for i in range(count))
        for c in made:
            c.tags.add(tag)
        organisation.forget()  # both requests read the organisation's defaults, kept 30 s
        with CaptureQueriesContext(connection) as captured:
            assert bob_client.get("/customers/").status_code == 200
        return len(captured)

    assert queries_for(3) == queries_for(25)


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login() -> None:
    response = Client().get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
