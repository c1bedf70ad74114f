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

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, fields, missing, validate

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


# --- dumping fast -----------------------------------------------------------------------------

Dump = Callable[[Mapping[str, Any]], dict[str, Any]]


def compiled_dump(schema: Schema) -> Dump:
    """``schema.dump`` for stored records, without marshmallow's per-call machinery.

    A list page dumps up to a thousand records, and marshmallow spends tens of microseconds
    on each in generic work this data does not need: stored content is already in its JSON
    form (text, checked at the import door), so dumping a field is taking its value. The
    function returned walks the schema's own declared fields — nothing else can appear in
    its output, as with ``dump`` — takes text and null as they are, recurses into nested
    schemas and lists, and hands any other value to the field's own ``serialize``.
    ``tests/allowlist`` hold it to returning exactly what ``schema.dump`` returns.
    """
    hooks = any(schema._hooks.values())  # noqa: SLF001 - marshmallow keeps them there
    defaults = any(f.dump_default is not missing for f in schema.dump_fields.values())
    if hooks or defaults:
        return schema.dump  # dump hooks, or values for absent keys: marshmallow's own dump
    plan = [(name, field.data_key or name, _value_dump(field), field)
            for name, field in schema.dump_fields.items()]  # fmt: skip

    def dump(record: Mapping[str, Any]) -> dict[str, Any]:
        shaped = {}
        for name, key, value_dump, field in plan:
            if name not in record:
                continue
            value = record[name]
            converted = value_dump(value) if value is not None else None
            shaped[key] = field.serialize(name, record) if converted is _SLOW else converted
        return shaped

    return dump


_SLOW = object()


def _value_dump(field: fields.Field) -> Callable[[Any], Any]:
    if isinstance(field, fields.Nested) and not field.many:
        inner = compiled_dump(field.schema)
        return lambda value: inner(value) if isinstance(value, dict) else _SLOW
    if isinstance(field, fields.List):
        element = _value_dump(field.inner)
        return lambda value: _list_dump(element, value)
    if isinstance(field, fields.String | _StoredText):
        return lambda value: value if type(value) is str else _SLOW
    return lambda value: _SLOW


def _list_dump(element: Callable[[Any], Any], values: Any) -> Any:
    if not isinstance(values, list):
        return _SLOW
    dumped = [element(value) if value is not None else None for value in values]
    return _SLOW if any(value is _SLOW for value in dumped) else dumped
