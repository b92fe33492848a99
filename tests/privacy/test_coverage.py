"""Every model is accounted for: the ones with a key to customers are found by walking the
model graph and each says how it is erased; the others either name customers another way
(and say how they are found and erased) or say why they hold nothing about a customer. A
model added later fails here until someone has said which."""

from __future__ import annotations

from django.db import models
from django.test.utils import isolate_apps

from huifang.customers.models import Customer
from huifang.privacy.erasure import ERASE, MENTIONED, unmapped
from huifang.privacy.holdings import MENTIONS, UNRELATED, chains, classify


def test_every_model_is_accounted_for() -> None:
    assert unmapped() == [], "say in huifang/privacy how these hold customers' data"


def test_the_lists_name_only_models_that_exist_and_what_they_are() -> None:
    kinds = classify()
    assert set(ERASE) == set(chains()) == {k for k, v in kinds.items() if v == "held"}
    assert set(MENTIONS) <= set(MENTIONED)
    assert {kinds[name] for name in MENTIONS} <= {"mentioning", "held"}
    assert {kinds[name] for name in UNRELATED} == {"unrelated"}


def test_chains_of_keys_are_found_however_long() -> None:
    found = chains()
    assert found["surveys.AnswerTag"] == ["answer__response__customer"]
    assert found["outbox.Attempt"] == ["message__customer"]
    assert sorted(found["engine.DueStep"]) == ["enrollment__customer", "message__customer"]


@isolate_apps("huifang.privacy")
def test_a_model_added_later_is_found_and_refused_until_mapped() -> None:
    class Visit(models.Model):  # noqa: DJ008
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
        note = models.TextField()

        class Meta:
            app_label = "privacy"

    class Photo(models.Model):  # noqa: DJ008
        visit = models.ForeignKey(Visit, on_delete=models.CASCADE)

        class Meta:
            app_label = "privacy"

    class Loose(models.Model):  # noqa: DJ008
        text = models.TextField()

        class Meta:
            app_label = "privacy"

    isolated = Visit._meta.apps  # a registry of its own: the project's stays as it is
    assert chains(isolated)["privacy.Photo"] == ["visit__customer"]
    assert unmapped(isolated) == ["privacy.Loose", "privacy.Photo", "privacy.Visit"]
