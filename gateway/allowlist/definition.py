"""Reading and checking the allowlist definition (``schemas/allowlist.toml``).

The definition is data a reviewer can read next to the terms; this module refuses any
definition that could be misread: every shared field must name its item in the terms and the
paragraph (clause 22, paragraph 3), belong to a declared scope, and be unique; every key must
be one this module understands, so a typo cannot silently widen or narrow what is shared.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError

# Only paragraph 3 of clause 22 allows joint use; every shared item must come from it.
JOINT_USE_PARAGRAPH = "22.3"

KINDS = ("string", "date", "datetime", "decimal", "list", "object")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")
_FIELD_KEYS = frozenset(
    {
        "name", "scope", "kind", "item", "paragraph", "note", "required", "max_length",
        "pattern", "choices", "of", "max_items", "fields", "metadata",
    }
)  # fmt: skip
_TOP_KEYS = frozenset({"version", "terms", "scopes", "always", "fields"})


@dataclass(frozen=True)
class FieldSpec:
    """One allowlisted field: its JSON name, its kind and constraints, and its trace."""

    name: str
    kind: str
    item: str | None  # the item's label in the terms, e.g. 氏名
    paragraph: str | None  # "22.3"
    scope: str | None = None  # None for nested fields (they follow their parent) and always
    required: bool = False
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    of: str | None = None  # for lists: "string" or "object"
    max_items: int | None = None
    children: tuple[FieldSpec, ...] = ()
    metadata: bool = False  # set by the gateway, not an item about the customer
    note: str | None = None

    @property
    def has_children(self) -> bool:
        return self.kind == "object" or (self.kind == "list" and self.of == "object")


@dataclass(frozen=True)
class Definition:
    version: str
    terms: str
    scopes: Mapping[str, str]
    always: tuple[FieldSpec, ...]
    fields: tuple[FieldSpec, ...]


def read_definition(path: Path) -> Definition:
    """Parse and check the definition at ``path``; any fault is a :class:`ConfigurationError`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"allowlist: {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        # tomllib itself refuses a key defined twice within one table.
        raise ConfigurationError(f"allowlist: {path.name} is not valid TOML: {error}") from None
    return parse_definition(raw)


def parse_definition(raw: Mapping[str, Any]) -> Definition:
    _no_unknown_keys(raw, _TOP_KEYS, "the top level")
    version = raw.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ConfigurationError("allowlist: version must be the terms revision, YYYY-MM-DD")
    terms = raw.get("terms")
    if not isinstance(terms, str) or not terms:
        raise ConfigurationError("allowlist: terms must name the clause the items come from")
    scopes = raw.get("scopes")
    if not isinstance(scopes, dict) or not scopes:
        raise ConfigurationError("allowlist: [scopes] must declare at least one scope")
    for scope, description in scopes.items():
        if not re.match(r"^[a-z]+:[a-z_]+\Z", scope) or not isinstance(description, str):
            raise ConfigurationError(f"allowlist: bad scope declaration {scope!r}")

    always = tuple(
        _field(entry, "always", scopes, top=False) for entry in _table_list(raw, "always")
    )
    fields = tuple(
        _field(entry, "fields", scopes, top=True) for entry in _table_list(raw, "fields")
    )
    if not fields:
        raise ConfigurationError("allowlist: no fields are shared")
    _unique(always + fields, "the top level")
    if {f.name for f in always} != {"customer_id", "updated_at"}:
        raise ConfigurationError("allowlist: [[always]] must be exactly customer_id and updated_at")
    unused = set(scopes) - {f.scope for f in fields}
    if unused:
        raise ConfigurationError(f"allowlist: scope {sorted(unused)[0]!r} grants no field")
    return Definition(version, terms, dict(scopes), always, fields)


def _table_list(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigurationError(f"allowlist: {key} must be a list of tables ([[{key}]])")
    return value


def _field(raw: dict[str, Any], where: str, scopes: Mapping[str, str], *, top: bool) -> FieldSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"allowlist: a field in {where} has a bad or missing name")
    label = f"{where}.{name}"
    _no_unknown_keys(raw, _FIELD_KEYS, label)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigurationError(f"allowlist: {label}: kind must be one of {', '.join(KINDS)}")

    metadata = raw.get("metadata", False) is True
    item, paragraph = raw.get("item"), raw.get("paragraph")
    if metadata:
        if where != "always" or kind != "datetime":
            raise ConfigurationError(f"allowlist: {label}: only updated_at may be metadata")
    else:
        # The trace: no field is shared unless a reviewer can find its item in paragraph 3.
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"allowlist: {label}: missing item (its label in the terms)")
        if paragraph != JOINT_USE_PARAGRAPH:
            raise ConfigurationError(
                f"allowlist: {label}: paragraph must be {JOINT_USE_PARAGRAPH!r}, "
                "the paragraph that allows joint use"
            )

    scope = raw.get("scope")
    if top:
        if scope not in scopes:
            raise ConfigurationError(f"allowlist: {label}: unknown scope {scope!r}")
    elif scope is not None:
        raise ConfigurationError(f"allowlist: {label}: only top-level fields take a scope")

    of = raw.get("of")
    if kind == "list" and of not in ("string", "object"):
        raise ConfigurationError(f"allowlist: {label}: a list needs of = 'string' or 'object'")
    if kind != "list" and of is not None:
        raise ConfigurationError(f"allowlist: {label}: only a list takes 'of'")

    children_raw = raw.get("fields")
    nested = kind == "object" or (kind == "list" and of == "object")
    children: tuple[FieldSpec, ...] = ()
    if nested:
        if not isinstance(children_raw, list) or not children_raw:
            raise ConfigurationError(f"allowlist: {label}: needs nested [[fields]]")
        children = tuple(_field(child, label, scopes, top=False) for child in children_raw)
        _unique(children, label)
        if any(child.has_children for child in children):
            raise ConfigurationError(f"allowlist: {label}: nesting is one level deep")
    elif children_raw is not None:
        raise ConfigurationError(f"allowlist: {label}: only objects take nested fields")

    max_length = _positive(raw, "max_length", label)
    max_items = _positive(raw, "max_items", label)
    choices = raw.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c for c in choices):
        raise ConfigurationError(f"allowlist: {label}: choices must be a list of strings")
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError):
            raise ConfigurationError(f"allowlist: {label}: pattern is not a regex") from None
    takes_text = kind == "string" or (kind == "list" and of == "string")
    if not takes_text and (max_length or choices or pattern):
        raise ConfigurationError(f"allowlist: {label}: only strings take length/choices/pattern")
    if kind != "list" and max_items:
        raise ConfigurationError(f"allowlist: {label}: only a list takes max_items")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise ConfigurationError(f"allowlist: {label}: required must be true or false")

    return FieldSpec(
        name=name,
        kind=kind,
        item=item if not metadata else None,
        paragraph=paragraph if not metadata else None,
        scope=scope if top else None,
        required=required,
        max_length=max_length,
        pattern=pattern,
        choices=tuple(choices),
        of=of,
        max_items=max_items,
        children=children,
        metadata=metadata,
        note=raw.get("note"),
    )


def _positive(raw: dict[str, Any], key: str, label: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"allowlist: {label}: {key} must be a positive whole number")
    return value


def _unique(specs: tuple[FieldSpec, ...], where: str) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigurationError(f"allowlist: duplicate field {spec.name!r} in {where}")
        seen.add(spec.name)


def _no_unknown_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigurationError(f"allowlist: unknown key {unknown[0]!r} in {where}")
