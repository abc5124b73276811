"""RFC 9457 ``application/problem+json`` errors, the one error shape of every service.

A route raises :class:`Problem` (usually through a constructor such as
``Problem.not_found()``); :func:`install_problem_handlers` turns it, FastAPI's validation
errors, Starlette's routing errors and any unexpected exception into a problem document.
Titles and details are Russian because people read them; ``type`` and field ``code``
are stable English identifiers for programs.
"""

from __future__ import annotations

from emk_common.field_errors import FieldError, invalid_value
from emk_common.problems.handlers import install_problem_handlers
from emk_common.problems.openapi import problem_responses
from emk_common.problems.problem import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPE_BASE,
    Problem,
    ProblemDocument,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_BASE",
    "FieldError",
    "Problem",
    "ProblemDocument",
    "install_problem_handlers",
    "invalid_value",
    "problem_responses",
]
