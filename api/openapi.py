"""What the OpenAPI document adds to FastAPI's: links, how the answer of one operation
feeds the next (a client, or the stateful fuzzer in tests/fuzz/, chains calls by them),
and the bodies of the routes that read their JSON themselves (``json_body``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from pydantic import BaseModel


def link_to(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """A link object to the operation ``method path`` of this API.

    ``parameters``: the target's parameter name (qualified as ``header.if-match`` for a
    header) → a runtime expression such as ``$response.body#/id``, or a constant.
    """
    pointer = quote(path.replace("~", "~0").replace("/", "~1"), safe="~")
    return {
        "operationRef": f"#/paths/{pointer}/{method.lower()}",
        "description": description,
        "parameters": parameters,
    }


# Models whose JSON schemas the document carries under components/schemas: the bodies
# routes read as plain JSON (so that the workflow, not FastAPI, validates them, after the
# role and state checks: 403 and 409 come before 422) but still document.
_BODIES: dict[str, type[BaseModel]] = {}


def json_body(*models: type[BaseModel], description: str, required: bool = True) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads its JSON body itself (``deps.JsonObject``):
    one model's schema, or any of several (an event's body depends on the event)."""
    refs = []
    for model in models:
        _BODIES[model.__name__] = model
        refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


def install(app: FastAPI) -> None:
    """Add the schemas of ``json_body`` models to the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _BODIES.items():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for nested, definition in schema.pop("$defs", {}).items():
                schemas.setdefault(nested, definition)
            schemas[name] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
