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
        "Customer and event ingestion for Huifang. Authenticate with "
        "`Authorization: Bearer <token>`; tokens are created by an administrator under "
        "Settings → API tokens or with `huifang token create NAME`. Every error is "
        '`{"error": {"code", "message"}}`. POST requests honour an `Idempotency-Key` header.'
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
api.add_router("/v1", customers_router)
