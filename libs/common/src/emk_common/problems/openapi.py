"""Problem documents in the OpenAPI schema: one ``Problem`` component, FastAPI's default
422 schema replaced."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from emk_common.problems.problem import _STATUS_DEFAULTS, PROBLEM_MEDIA_TYPE, ProblemDocument

# --- OpenAPI ------------------------------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route, documenting its problem statuses::

    @router.post("/{id}/submit", responses=problem_responses(404, 409))
    """
    return {
        status: {
            "description": _STATUS_DEFAULTS.get(status, ("", "Ошибка", ""))[1],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for status in statuses
    }


def _document_problems(app: FastAPI) -> None:
    """Replace FastAPI's default 422 schema (HTTPValidationError) with the problem schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _rewrite_openapi(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _rewrite_openapi(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses and "422" in responses:
                responses["422"] = problem_responses(422)[422]
    text = repr(schema)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)
