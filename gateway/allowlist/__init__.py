"""The joint-use allowlist: the one place outgoing customer data is shaped.

Clause 22, paragraph 3 of the terms fixes the items the company may share with designated
resellers. ``schemas/allowlist.toml`` lists them, each traced to its item and paragraph and
grouped by OAuth scope; :func:`current` loads it once per process (the gateway refuses to
start if it is invalid) and :class:`Allowlist` derives everything else from it:

- the import door's input schema, and the split of a source record into allowlisted content
  and the names of the fields dropped (:meth:`Allowlist.split_source`);
- :meth:`Allowlist.fields_for_scopes`, the fields a token's scopes grant;
- :meth:`Allowlist.shape`, the record a reseller receives, dumped through a marshmallow schema
  that declares exactly the requested fields — built, never trimmed from a fuller record.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from marshmallow import Schema

from gateway.allowlist.definition import Definition, FieldSpec, read_definition
from gateway.allowlist.schemas import (
    Dump,
    compiled_dump,
    input_schema_class,
    output_schema_class,
)

# The definition lives beside the code, in the repository's schemas/ folder.
DEFINITION_PATH = Path(__file__).resolve().parents[2] / "schemas" / "allowlist.toml"

# Present in every shaped record, whatever the scopes (DESIGN, data contract).
ALWAYS = frozenset({"customer_id", "updated_at"})

__all__ = ["ALWAYS", "DEFINITION_PATH", "Allowlist", "FieldSpec", "current", "load"]


class Allowlist:
    """A checked allowlist definition and the schemas built from it."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.version: str = definition.version
        self.scopes: tuple[str, ...] = tuple(definition.scopes)
        self.fields: tuple[FieldSpec, ...] = definition.fields
        self._always = {spec.name: spec for spec in definition.always}
        self._by_name = {spec.name: spec for spec in definition.fields}
        # Top-level names a reseller may ask for in fields=, the always-present ones included.
        self.field_names: frozenset[str] = frozenset(self._by_name) | ALWAYS
        self._by_scope: dict[str, frozenset[str]] = {
            scope: frozenset(s.name for s in self.fields if s.scope == scope)
            for scope in self.scopes
        }
        # Source records are read in the contract's names; updated_at is the gateway's own.
        self._source = {"customer_id": self._always["customer_id"], **self._by_name}
        self._input = input_schema_class((self._always["customer_id"], *self.fields), "customer")()
        self._nested: dict[str, type[Schema]] = {}
        self._content = output_schema_class(self.fields, "customer_content", self._nested)()
        self._outputs: dict[frozenset[str], Schema] = {}
        self._dumps: dict[frozenset[str], Dump] = {}
        self._outputs_lock = threading.Lock()

    # --- what is shared -----------------------------------------------------------------------

    def spec(self, name: str) -> FieldSpec:
        return self._by_name.get(name) or self._always[name]

    def fields_for_scopes(self, scopes: Iterable[str]) -> frozenset[str]:
        """The top-level fields the given scopes grant, with the always-present ones.
        Scopes the allowlist does not know grant nothing."""
        granted = set(ALWAYS)
        for scope in scopes:
            granted |= self._by_scope.get(scope, frozenset())
        return frozenset(granted)

    def fields_of_scope(self, scope: str) -> frozenset[str]:
        return self._by_scope[scope]

    # --- the import door ----------------------------------------------------------------------

    @property
    def input_schema(self) -> Schema:
        """Validates a source record already split by :meth:`split_source`."""
        return self._input

    def split_source(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """The allowlisted part of a source record, and the names (never the values) of what
        was left out: ``credit_check``, ``contract.internal_code``, ``inquiries[].staff_memo``.

        Only a value's own keys are inspected; a value of the wrong type is kept for the
        input schema to refuse.
        """
        kept: dict[str, Any] = {}
        dropped: set[str] = set()
        for key, value in raw.items():
            spec = self._source.get(key)
            if spec is None:
                dropped.add(key)
            else:
                kept[key] = _split_nested(spec, value, key, dropped)
        return kept, dropped

    def stored_content(self, loaded: Mapping[str, Any]) -> dict[str, Any]:
        """Validated content in its stored JSON form: every shared field, null when absent."""
        return self._content.dump(loaded)

    # --- shaping ------------------------------------------------------------------------------

    def output_schema(self, requested: Iterable[str]) -> Schema:
        """The schema declaring ``requested`` plus the always-present fields; built once per
        distinct field set and reused."""
        wanted = frozenset(requested) | ALWAYS
        schema = self._outputs.get(wanted)
        if schema is not None:
            return schema
        unknown = wanted - self.field_names
        if unknown:
            # The policy refuses such requests first; reaching here is a programming error.
            raise ValueError(f"not allowlisted: {', '.join(sorted(unknown))}")
        specs = (
            *(self._always[name] for name in ("customer_id", "updated_at")),
            *(spec for spec in self.fields if spec.name in wanted),
        )
        built = output_schema_class(specs, "customer", self._nested)()
        with self._outputs_lock:
            return self._outputs.setdefault(wanted, built)

    def shape(self, record: Mapping[str, Any], requested: Iterable[str]) -> dict[str, Any]:
        """What a reseller receives: ``record`` (``customer_id``, ``updated_at`` and stored
        content) dumped through the schema of exactly the requested fields (compiled once per
        field set, see :func:`gateway.allowlist.schemas.compiled_dump`)."""
        wanted = frozenset(requested)
        dump = self._dumps.get(wanted)
        if dump is None:
            dump = self._dumps.setdefault(wanted, compiled_dump(self.output_schema(wanted)))
        return dump(record)


def _split_nested(spec: FieldSpec, value: Any, path: str, dropped: set[str]) -> Any:
    if not spec.has_children:
        return value
    names = {child.name for child in spec.children}

    def keep(element: Any, prefix: str) -> Any:
        if not isinstance(element, dict):
            return element
        for key in element.keys() - names:
            dropped.add(f"{prefix}.{key}")
        return {k: v for k, v in element.items() if k in names}

    if spec.kind == "object":
        return keep(value, path)
    if isinstance(value, list):
        return [keep(element, f"{path}[]") for element in value]
    return value


def load(path: Path | None = None) -> Allowlist:
    """Read and check a definition (by default ``schemas/allowlist.toml``); raises
    :class:`gateway.errors.ConfigurationError`."""
    return Allowlist(read_definition(path or DEFINITION_PATH))


@functools.cache
def current() -> Allowlist:
    """The allowlist in force, loaded once per process from ``schemas/allowlist.toml``."""
    return load()
