from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


# Registered by ``huifang.accounts.admin``, which asks the permission table who may see it.
class EntryAdmin(admin.ModelAdmin):
    """Read-only: entries are written by the services that audit, never here."""

    list_display = ("seq", "at", "actor", "action", "verb", "object_type", "object_repr", "ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_repr", "object_id", "verb")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
