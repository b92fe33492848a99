"""Two-step sign-in: a TOTP code from an authenticator app after the password (django-otp)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD


def code(device: TOTPDevice, *, offset: int = 0) -> str:
    """What the authenticator app shows now (``offset`` steps of 30 s later)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0 - offset * device.step):06d}"


def sign_in(username: str, path: str = "/login/") -> Client:
    client = Client()
    response = client.post(path, {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def enrol(user: Any) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def test_it_enrols_with_a_qr_code_drawn_here_and_a_first_code(alice_client: Client) -> None:
    page = alice_client.get("/settings/two-factor/")
    html = page.content.decode()
    assert page.status_code == 200
    qr = html.split('id="two-factor-qr">')[1].split("</div>")[0]
    assert qr.startswith("<svg") and "<img" not in qr  # drawn here: no image service sees it
    device = TOTPDevice.objects.get(user__username="alice")
    assert not device.confirmed
    alice_client.cookies["django_language"] = "en"
    refused = alice_client.post("/settings/two-factor/", {"code": "000000"})
    assert "This code is not right" in refused.content.decode()
    device.refresh_from_db()
    device.throttle_reset()
    done = alice_client.post("/settings/two-factor/", {"code": code(device)})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    # The session that confirmed it counts as having passed the second step.
    assert alice_client.get("/customers/").status_code == 200


def test_sign_in_asks_for_the_code_once_it_is_on(alice: Any) -> None:
    device = enrol(alice)
    client = sign_in("alice")
    held = client.get("/customers/?q=1")
    assert held.status_code == 302
    assert held["Location"] == "/settings/two-factor/verify/?next=/customers/%3Fq%3D1"
    assert client.get("/admin/").status_code == 302  # the admin too
    assert client.get("/settings/two-factor/verify/").status_code == 200

    wrong = client.post("/settings/two-factor/verify/", {"code": "123456", "next": "/customers/"})
    assert wrong.status_code == 200
    assert client.get("/customers/").status_code == 302

    device.refresh_from_db()
    device.throttle_reset()
    right = client.post(
        "/settings/two-factor/verify/", {"code": code(device), "next": "/customers/"}
    )
    assert right.status_code == 302 and right["Location"] == "/customers/"
    assert client.get("/customers/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_code_is_used_once(alice: Any) -> None:
    device = enrol(alice)
    first = sign_in("alice")
    now = code(device)
    assert first.post("/settings/two-factor/verify/", {"code": now}).status_code == 302
    second = sign_in("alice")
    assert second.post("/settings/two-factor/verify/", {"code": now}).status_code == 200


def test_wrong_codes_slow_down_further_tries(alice: Any) -> None:
    device = enrol(alice)
    client = sign_in("alice")
    client.cookies["django_language"] = "en"
    start = timezone.now()
    for n in range(4):  # each after the wait the one before asked for
        with time_machine.travel(start + timedelta(seconds=60 * n), tick=False):
            client.post("/settings/two-factor/verify/", {"code": "000000"})
    with time_machine.travel(start + timedelta(seconds=180), tick=False):
        # 4 failures in a row: the next try must wait 8 s, even with the right code.
        answer = client.post("/settings/two-factor/verify/", {"code": code(device)})
        assert "Too many wrong codes. Wait 8 seconds" in answer.content.decode()
    with time_machine.travel(start + timedelta(seconds=189), tick=False):
        answer = client.post("/settings/two-factor/verify/", {"code": code(device)})
        assert answer.status_code == 302


def test_failed_codes_are_logged(alice: Any, caplog: pytest.LogCaptureFixture) -> None:
    enrol(alice)
    client = sign_in("alice")
    with caplog.at_level(logging.INFO, logger="huifang.signin"):
        client.post("/settings/two-factor/verify/", {"code": "000000"})
    assert "second factor failed: username='alice' ip=127.0.0.1" in caplog.messages


def test_without_a_device_nothing_changes(bob: Any) -> None:
    client = sign_in("bob")
    assert client.get("/tasks/").status_code == 200


def test_an_organisation_can_require_it_of_administrators(
    alice: Any, bob: Any, settings: Any
) -> None:
    settings.HUIFANG_ADMIN_TOTP_REQUIRED = True
    client = sign_in("alice")
    held = client.get("/customers/")
    assert held.status_code == 302
    assert held["Location"].startswith("/settings/two-factor/?next=")
    page = client.get("/settings/two-factor/")
    assert "<svg" in page.content.decode()
    # Agents are not administrators: they go on without.
    assert sign_in("bob").get("/tasks/").status_code == 200


def test_an_administrator_cannot_turn_it_off_when_required(alice: Any, settings: Any) -> None:
    settings.HUIFANG_ADMIN_TOTP_REQUIRED = True
    device = enrol(alice)
    client = sign_in("alice")
    client.post("/settings/two-factor/verify/", {"code": code(device)})
    client.post("/settings/two-factor/", {"code": code(device, offset=1)})
    assert TOTPDevice.objects.filter(user=alice).exists()


def test_it_can_be_turned_off_with_a_current_code(alice: Any) -> None:
    device = enrol(alice)
    client = sign_in("alice")
    client.post("/settings/two-factor/verify/", {"code": code(device)})
    client.post("/settings/two-factor/", {"code": code(device, offset=1)})
    assert not TOTPDevice.objects.filter(user=alice).exists()


def test_a_session_without_the_code_cannot_set_up_a_new_device(alice: Any) -> None:
    enrol(alice)
    client = sign_in("alice")
    response = client.get("/settings/two-factor/")
    assert response.status_code == 302
    assert response["Location"].startswith("/settings/two-factor/verify/")
    assert TOTPDevice.objects.filter(user=alice).count() == 1


def test_the_api_answers_by_its_token_alone(alice: Any, api_token: str) -> None:
    enrol(alice)
    client = sign_in("alice")  # a session without the code, and a token
    response = client.get("/api/v1/customers/C-404", HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_customer"
