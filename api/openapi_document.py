"""The OpenAPI document as the API really answers, without FastAPI's automatic 422."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_FASTAPI_VALIDATION_BODY = "#/components/schemas/HTTPValidationError"


def _is_fastapi_validation_answer(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _FASTAPI_VALIDATION_BODY)


def install_openapi_document(app: FastAPI) -> None:
    """FastAPI declares a 422 with its own body on every route with parameters, but
    api/errors.py answers invalid input 400 with the error body (each route declares it) and a
    malformed path id 404: a client or a fuzzer trusting the document would expect an answer
    that never comes. The 422 of confirm (`content_rejected`, the error body) stays."""

    generate = app.openapi  # FastAPI's own, which caches the document it builds

    def document() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if _is_fastapi_validation_answer(responses.get("422", {})):
                    del responses["422"]
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return schema

    app.openapi = document  # type: ignore[method-assign]
