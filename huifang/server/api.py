from __future__ import annotations

from ninja import NinjaAPI

from huifang.api import errors
from huifang.api.auth import TokenAuth
from huifang.api.requests import StrictParser
from huifang.customers.api import router as customers_router

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
    openapi_url="/openapi.json",
)
errors.install(api)
api.add_router("/v1", customers_router)
