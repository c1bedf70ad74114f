"""marshmallow schemas generated from the allowlist definition.

Two families, both built once from the same :class:`FieldSpec` tree:

- the **input** schema validates a source record at the import door (strict: an unknown key
  that reaches it is an error — unknown keys are split off and counted before, in
  :meth:`gateway.allowlist.Allowlist.split_source`);
- the **output** schemas dump what a reseller receives. A schema declares exactly the
  requested fields, so the record is *built* from the allowlist: a key the schema does not
  declare cannot appear in its output, whatever the stored record holds.

Stored content is kept in its JSON form (dates and instants as ISO 8601 text, amounts as
decimal text), validated at import; the output fields below pass that text through and
convert Python values, so one schema serves both the store and the partner API.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from gateway.allowlist.definition import FieldSpec
from gateway.validation import StrictSchema

# Free text may span lines (addresses, inquiries); other control characters are refused.
_NO_CONTROL = validate.Regexp(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z", error="must not contain control characters"
)
# A fee is an amount of money: refuse magnitudes no fee has (and no reseller could store).
_AMOUNT = validate.Range(min=-(10**12), max=10**12)


class _StoredText:
    """Pass through a value already in its stored JSON text form."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)  # type: ignore[misc]


class StoredDate(_StoredText, fields.Date):
    pass


class StoredDateTime(_StoredText, fields.AwareDateTime):
    pass


class StoredDecimal(_StoredText, fields.Decimal):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(as_string=True, allow_nan=False, **kwargs)


def _describe(spec: FieldSpec) -> dict[str, Any]:
    if spec.metadata:
        return {"description": spec.note or spec.name}
    return {"description": f"{spec.item} (clause {spec.paragraph.replace('.', ' ¶')})"}  # type: ignore[union-attr]


# --- input ------------------------------------------------------------------------------------


def _text_validators(spec: FieldSpec) -> list[validate.Validator]:
    validators: list[validate.Validator] = [_NO_CONTROL]
    if spec.max_length:
        validators.append(validate.Length(max=spec.max_length))
    if spec.pattern:
        validators.append(validate.Regexp(spec.pattern, error="does not have the expected form"))
    if spec.choices:
        validators.append(validate.OneOf(spec.choices))
    return validators


def _input_field(spec: FieldSpec) -> fields.Field:
    presence: dict[str, Any] = (
        {"required": True} if spec.required else {"allow_none": True, "load_default": None}
    )
    if spec.kind == "string":
        return fields.String(validate=_text_validators(spec), **presence)
    if spec.kind == "date":
        return fields.Date(**presence)
    if spec.kind == "datetime":
        return fields.AwareDateTime(**presence)
    if spec.kind == "decimal":
        return fields.Decimal(allow_nan=False, validate=_AMOUNT, **presence)
    if spec.kind == "object":
        return fields.Nested(input_schema_class(spec.children, spec.name), **presence)
    # list
    if spec.of == "object":
        inner: fields.Field = fields.Nested(input_schema_class(spec.children, spec.name))
    else:
        inner = fields.String(validate=_text_validators(spec))
    limit = [validate.Length(max=spec.max_items)] if spec.max_items else []
    return fields.List(inner, validate=limit, **presence)


def input_schema_class(specs: tuple[FieldSpec, ...], name: str) -> type[Schema]:
    declared = {spec.name: _input_field(spec) for spec in specs if not spec.metadata}
    return StrictSchema.from_dict(declared, name=f"{_camel(name)}Input")


# --- output -----------------------------------------------------------------------------------


def _output_field(spec: FieldSpec, nested: dict[str, type[Schema]]) -> fields.Field:
    meta = {"metadata": _describe(spec)}
    if spec.kind == "string":
        return fields.String(allow_none=not spec.required, **meta)
    if spec.kind == "date":
        return StoredDate(allow_none=True, **meta)
    if spec.kind == "datetime":
        return StoredDateTime(allow_none=not spec.metadata, **meta)
    if spec.kind == "decimal":
        return StoredDecimal(allow_none=True, **meta)
    if spec.has_children and spec.name not in nested:
        nested[spec.name] = output_schema_class(spec.children, spec.name, nested)
    if spec.kind == "object":
        return fields.Nested(nested[spec.name], allow_none=True, **meta)
    if spec.of == "object":
        inner: fields.Field = fields.Nested(nested[spec.name])
    else:
        inner = fields.String()
    return fields.List(inner, allow_none=True, **meta)


def output_schema_class(
    specs: tuple[FieldSpec, ...], name: str, nested: dict[str, type[Schema]] | None = None
) -> type[Schema]:
    """A dump schema declaring exactly ``specs``. ``nested`` caches the nested schema classes
    (``ContractOutput`` …) so every output schema shares them (one OpenAPI component each)."""
    nested = {} if nested is None else nested
    declared = {spec.name: _output_field(spec, nested) for spec in specs}
    return Schema.from_dict(declared, name=f"{_camel(name)}Output")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
