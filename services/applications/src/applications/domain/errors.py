"""How the applications word a wrong field: in the form's terms, without the common «Поле
«…»:» prefix of ``FieldErrors.add`` — so their messages stay what people have read so far."""

from __future__ import annotations

from emk_common.field_errors import FieldError, FieldErrors


def add_message(errors: FieldErrors, path: str, code: str, message: str) -> None:
    """Adds an error to the one accumulator with a message of its own."""
    errors.items.append(FieldError(field=path, code=code, message=message))
