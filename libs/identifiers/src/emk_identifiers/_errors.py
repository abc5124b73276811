"""The two exceptions every validator raises, and their pydantic forms.

A validator raises :class:`InvalidIdentifier` with an English ``code`` for programs and a
Russian ``message`` for the citizen. In a pydantic ``field_validator`` raise
``as_pydantic_error(exc)`` instead: a ``PydanticCustomError`` whose type is the code, the
same mechanism as ``emk_common.field_errors.invalid_value``, so a 422 carries
``{"field": "snils", "code": "checksum", "message": "…"}``.

A validator of a composite value (an address) raises :class:`InvalidFields`, listing every
wrong sub-field at once; ``as_validation_error(exc)`` turns it into a pydantic
``ValidationError`` that, raised inside a validator, pydantic merges into the outer error
with each location prefixed by the outer field (``registration_address.region_code``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

__all__ = [
    "InvalidFields",
    "InvalidIdentifier",
    "as_pydantic_error",
    "as_validation_error",
]


class InvalidIdentifier(ValueError):  # noqa: N818  # the name is the public contract
    """A value that is not a valid identifier: ``code`` in English, ``message`` in Russian.

    The message never contains the offending value itself when that value is secret
    (a password); for identifiers it names what is wrong and shows a valid example.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"InvalidIdentifier(code={self.code!r}, message={self.message!r})"


class InvalidFields(ValueError):  # noqa: N818  # the name is the public contract
    """Several wrong sub-fields of one composite value, all reported at once.

    ``errors`` is a list of ``(field, code, message)``; ``field`` is relative to the value
    (``region_code``, not ``registration_address.region_code``).
    """

    def __init__(self, errors: Sequence[tuple[str, str, str]]) -> None:
        if not errors:
            raise ValueError("InvalidFields needs at least one error")
        self.errors: list[tuple[str, str, str]] = list(errors)
        super().__init__("; ".join(message for _, _, message in self.errors))

    def __repr__(self) -> str:
        return f"InvalidFields(errors={self.errors!r})"


def as_pydantic_error(exc: InvalidIdentifier) -> PydanticCustomError:
    """The pydantic form of ``exc``: type = ``exc.code``, message = ``exc.message``.

    ``raise as_pydantic_error(exc) from exc`` in a ``field_validator``; this is exactly
    ``PydanticCustomError(code, message)``, what ``emk_common.field_errors.invalid_value``
    builds, so the API layer reports the code and the Russian message unchanged.
    """
    return PydanticCustomError(exc.code, exc.message)


def as_validation_error(exc: InvalidFields, *, title: str = "value") -> ValidationError:
    """A pydantic ``ValidationError`` with one line per wrong sub-field of ``exc``.

    Raised inside a pydantic validator, pydantic prefixes each location with the field
    being validated, so the client sees every wrong sub-field with its own dotted path.
    The inputs are not copied into the error: the line's input is ``None``.
    """
    lines = [
        InitErrorDetails(type=PydanticCustomError(code, message), loc=(field,), input=None)
        for field, code, message in exc.errors
    ]
    return ValidationError.from_exception_data(title, lines)
