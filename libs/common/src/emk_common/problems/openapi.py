"""Problem documents in the OpenAPI schema: one ``Problem`` component, FastAPI's default
422 schema replaced, and the problem statuses the shared machinery answers documented on every
operation it answers them for (:func:`_shared_statuses`); a route documents only the statuses
particular to it (``responses=problem_responses(403, 409)``)."""

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
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _STATUS_DEFAULTS.get(status, ("", "Ошибка", ""))[1],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
    }
    if status == 429:  # Problem.rate_limited always says when to come back
        response["headers"] = {
            "Retry-After": {
                "description": "Через сколько секунд можно повторить запрос.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


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
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses:
                continue
            if "422" in responses:
                responses["422"] = _problem_response(422)
            for status in _shared_statuses(path, operation):
                responses.setdefault(str(status), _problem_response(status))
            operation["responses"] = dict(sorted(responses.items()))
    text = repr(schema)
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            components.pop(name, None)


def _shared_statuses(path: str, operation: dict[str, Any]) -> list[int]:
    """What an operation may answer whatever its route does, from its description alone.

    * 401: it names a security scheme (a bearer token it checks before anything else);
    * 404: a path parameter names something that may not exist, or not be the caller's;
    * 413 and 415: it takes a body (``emk_common.http_guard`` refuses one over its limit or
      of another media type before the route sees it);
    * 422: it has parameters or a body to validate.
    """
    parameters = operation.get("parameters") or []
    body = "requestBody" in operation
    statuses = []
    if operation.get("security"):
        statuses.append(401)
    if any(parameter.get("in") == "path" for parameter in parameters) or "{" in path:
        statuses.append(404)
    if body:
        statuses += [413, 415]
    if parameters or body:
        statuses.append(422)
    return statuses
