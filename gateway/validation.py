"""Input validation shared by every feature: strict marshmallow schemas, one error shape.

Inputs are refused, not trimmed (STYLE: schemas that silently drop fields are what we avoid):
an unknown field or a bad value raises :class:`InvalidInput` naming each offending field.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError

from gateway.errors import InvalidInput


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def load(schema: Schema, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(raw)
    except ValidationError as error:
        raise InvalidInput(describe(error.messages)) from None


def describe(messages: Any, prefix: str = "") -> str:
    """marshmallow's nested messages as one line: ``field: problem; other: problem``."""
    if isinstance(messages, dict):
        parts = []
        for key, value in messages.items():
            name = prefix.rstrip(": ") if key == "_schema" else f"{prefix}{key}"
            parts.append(describe(value, f"{name}: " if name else ""))
        return "; ".join(parts)
    if isinstance(messages, list):
        return prefix + " ".join(str(m).rstrip(".") for m in messages)
    return prefix + str(messages)
