from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from huifang.api import errors
from huifang.api.auth import TokenAuth
from huifang.api.requests import StrictParser
from huifang.customers.api import router as customers_router
from huifang.exports.api import router as exports_router
from huifang.imports.api import router as imports_router
from huifang.messaging.api import router as messaging_router
from huifang.studio.api import router as rules_router
from huifang.surveys.api import router as surveys_router
from huifang.tasks.api import router as tasks_router


class LocalSwagger(Swagger):
    """Swagger UI served from ``static/vendor/swagger-ui`` (npm's swagger-ui-dist) and started
    by a script file, so ``/api/docs`` needs no CDN and runs under the Content-Security-Policy.
    django-ninja's own page loads it from a CDN unless ``ninja`` is an installed app, and
    starts it with an inline script."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings), "api": api}
        return render(request, "api/swagger.html", context)


api = NinjaAPI(
    title="Huifang API",
    version="1",
    description=(
        "Customers, events, follow-up tasks, messages, rules, questionnaires, templates, "
        "exports and imports of Huifang. Authenticate with "
        "`Authorization: Bearer <token>`; tokens are created by an administrator under "
        "Settings → API tokens or with `huifang token create NAME`. Every error is "
        '`{"error": {"code", "message"}}`. POST requests honour an `Idempotency-Key` header. '
        "Lists are paged: `?cursor=…&limit=…` answers `{items, next_cursor}`."
    ),
    auth=TokenAuth(),
    parser=StrictParser(),
    urls_namespace="api",
    docs_url="/docs",
    # No call to Swagger's public spec validator: nothing leaves the intranet.
    docs=LocalSwagger(settings={"validatorUrl": None}),
    openapi_url="/openapi.json",
)
errors.install(api)
for router in (
    customers_router,
    tasks_router,
    messaging_router,
    rules_router,
    surveys_router,
    exports_router,
    imports_router,
):
    api.add_router("/v1", router)
