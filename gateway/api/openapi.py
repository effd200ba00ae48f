"""/openapi.json generated from the REST endpoints' pydantic models (no hand-kept spec),
and the /docs and /redoc pages that render it (docs_pages)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway import __version__
from gateway.api import docs_pages
from gateway.api.models import ErrorBody
from gateway.api.rest import ENDPOINTS, Endpoint
from gateway.errors import ErrorCode

REF = "#/components/schemas/{model}"


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        self.components[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        properties = endpoint.query.model_json_schema()["properties"]
        for name, field in endpoint.query.model_fields.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": properties[name],
                }
            )
    error = {
        "description": "Error (codes in the README's catalogue)",
        "content": {"application/json": {"schema": schemas.ref(ErrorBody)}},
    }
    ok = {"application/json": {"schema": schemas.ref(endpoint.response)}}
    responses: dict[str, Any] = {str(endpoint.status): {"description": "OK", "content": ok}}
    for status, why in endpoint.also:
        responses[str(status)] = {"description": why, "content": ok}
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "security": [{"bearer": []}, {"token": []}],
        "parameters": parameters,
        "responses": responses | {"4XX": error, "5XX": error},
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(endpoint.body)}},
        }
    return operation


def document() -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    codes = ", ".join(code.code for code in ErrorCode)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat gateway",
            "version": __version__,
            "description": "Real-time chat on Supabase. WebSocket protocol: see the README."
            f" Error codes: {codes}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "token": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get("/openapi.json", openapi_json)
    docs_pages.setup(app)
