"""Shaping: what a reseller receives is built from the allowlist, field by requested field."""

from __future__ import annotations

import itertools

import pytest

from gateway import allowlist

STORED = {
    "customer_id": "C-1",
    "updated_at": "2026-04-01T09:00:00.000000Z",
    "account_id": "acct-1",
    "company_name": "Sakura K.K.",
    "department": None,
    "title": None,
    "name": "Yamada Taro",
    "address": "Tokyo",
    "email": "c1@example.com",
    "phone": None,
    "fax": None,
    "contract": {
        "application_date": "2025-01-01",
        "contract_date": "2025-01-10",
        "services": ["sync"],
        "usage_status": "active",
        "payment_method": "invoice",
    },
    "fees": {"plan": "standard", "monthly_amount": "5500", "currency": "JPY"},
    "inquiries": [
        {
            "inquiry_id": "Q1",
            "received_at": "2026-01-15T10:00:00+09:00",
            "content": "help",
            "investigation": "looked",
            "answer": "fixed",
            "answered_at": "2026-01-16T10:00:00+09:00",
        }
    ],
}
SHARED = sorted(allowlist.load().field_names - allowlist.ALWAYS)


@pytest.mark.parametrize(
    "requested",
    [(), ("name",), ("contract", "fees"), ("inquiries", "email"), tuple(SHARED)],
    ids=repr,
)
def test_output_keys_are_exactly_the_requested_fields_and_the_key(requested):
    shaped = allowlist.load().shape(STORED, requested)
    assert set(shaped) == set(requested) | {"customer_id", "updated_at"}
    for name in requested:
        assert shaped[name] == STORED[name]


def test_absent_values_are_null_not_missing():
    stored = {**STORED, "fax": None, "fees": None}
    shaped = allowlist.load().shape(stored, ["fax", "fees"])
    assert shaped["fax"] is None and shaped["fees"] is None


def test_keys_the_allowlist_does_not_declare_never_appear_even_if_stored():
    # A fuller record than the store ever holds: shaping builds, it does not trim.
    fuller = {
        **STORED,
        "credit_check": "SENTINEL",
        "contract": {**STORED["contract"], "internal_code": "SENTINEL"},
        "inquiries": [{**STORED["inquiries"][0], "staff_memo": "SENTINEL"}],
    }
    shaped = allowlist.load().shape(fuller, SHARED)
    assert "SENTINEL" not in repr(shaped)
    assert set(shaped["contract"]) == set(STORED["contract"])
    assert set(shaped["inquiries"][0]) == set(STORED["inquiries"][0])


def test_a_field_outside_the_allowlist_cannot_be_requested():
    with pytest.raises(ValueError, match="credit_check"):
        allowlist.load().shape(STORED, ["name", "credit_check"])


def test_schemas_are_built_once_per_field_set():
    current = allowlist.load()
    first = current.output_schema(["name", "email"])
    assert current.output_schema(("email", "name")) is first
    assert current.output_schema(["name"]) is not first


def test_output_schemas_share_their_nested_schemas():
    current = allowlist.load()
    one, other = current.output_schema(["contract"]), current.output_schema(["contract", "fees"])
    assert one.fields["contract"].nested is other.fields["contract"].nested


def test_every_subset_of_fields_shapes_exactly():
    current = allowlist.load()
    for size in (1, 2, 3):
        for requested in itertools.combinations(SHARED, size):
            assert set(current.shape(STORED, requested)) == set(requested) | allowlist.ALWAYS


def test_split_source_names_what_it_drops_but_keeps_no_value():
    raw = {
        "customer_id": "C-1",
        "name": "Yamada",
        "credit_check": "SENTINEL",
        "updated_at": "2020-01-01T00:00:00Z",
        "contract": {"usage_status": "active", "internal_code": "SENTINEL"},
        "inquiries": [{"content": "x", "staff_memo": "SENTINEL"}, "not-an-object"],
    }
    kept, dropped = allowlist.load().split_source(raw)
    assert dropped == {
        "credit_check",
        "updated_at",
        "contract.internal_code",
        "inquiries[].staff_memo",
    }
    assert "SENTINEL" not in repr(kept)


ODD = [
    STORED,
    {"customer_id": "C-2", "updated_at": "2026-04-01T09:00:00.000000Z"},  # keys missing
    {**STORED, "contract": None, "inquiries": None, "fees": {"plan": "standard"}},
    {**STORED, "inquiries": [None, {"inquiry_id": "Q2"}], "contract": {"services": None}},
    # Not what the import door stores; the field's own serialize takes over.
    {**STORED, "name": 12, "fees": {"monthly_amount": 5500}, "contract": {"services": [1]}},
    {**STORED, "inquiries": [{"inquiry_id": "Q3", "staff_memo": "SENTINEL"}], "x": "SENTINEL"},
]


@pytest.mark.parametrize("record", ODD, ids=range(len(ODD)))
def test_shaping_returns_exactly_what_the_schemas_dump_returns(record):
    current = allowlist.load()
    for size in (1, 2, len(SHARED)):
        for requested in itertools.combinations(SHARED, size):
            expected = current.output_schema(requested).dump(record)
            assert current.shape(record, requested) == expected
