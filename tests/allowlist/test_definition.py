"""The allowlist definition: the real one is valid and traced; invalid ones stop the gateway."""

from __future__ import annotations

import tomllib

import pytest

from gateway import allowlist
from gateway.allowlist.definition import parse_definition, read_definition
from gateway.config import Config
from gateway.customers.service import CONTRACT_ENDED
from gateway.errors import ConfigurationError
from gateway.runtime import Runtime

# DESIGN.md, the data contract table.
CONTRACT = {
    "customers:contact": {
        "account_id", "company_name", "department", "title", "name", "address", "email",
        "phone", "fax",
    },
    "customers:contract": {"contract", "fees"},
    "customers:inquiries": {"inquiries"},
}  # fmt: skip
NESTED = {
    "contract": {
        "application_date", "contract_date", "services", "usage_status", "payment_method",
    },
    "fees": {"plan", "monthly_amount", "currency"},
    "inquiries": {
        "inquiry_id", "received_at", "content", "investigation", "answer", "answered_at",
    },
}  # fmt: skip
# Clause 22, paragraph 3: the items it lists, and nothing else.
PARAGRAPH_3_ITEMS = {
    "アカウント情報", "会社名", "部署名", "役職名", "氏名", "住所", "電子メールアドレス",
    "電話番号", "ファックス番号", "その他契約情報", "申込日", "契約日", "利用サービス", "利用状況",
    "料金の支払い方法", "料金", "お問い合わせ内容", "調査・回答内容",
}  # fmt: skip


def _raw() -> dict:
    return tomllib.loads(allowlist.DEFINITION_PATH.read_text(encoding="utf-8"))


def test_the_allowlist_matches_the_data_contract_scope_by_scope():
    current = allowlist.load()
    assert current.version == "2022-04-01"
    for scope, names in CONTRACT.items():
        assert current.fields_of_scope(scope) == names
    for name, children in NESTED.items():
        assert {c.name for c in current.spec(name).children} == children
    assert current.field_names == set().union(*CONTRACT.values()) | {"customer_id", "updated_at"}


def test_every_shared_field_is_traced_to_an_item_of_paragraph_3():
    current = allowlist.load()
    specs = [*current.fields, *(c for f in current.fields for c in f.children)]
    specs.append(current.spec("customer_id"))
    for spec in specs:
        assert spec.paragraph == "22.3", spec.name
        assert spec.item in PARAGRAPH_3_ITEMS, spec.name


def test_allowlist_scopes_are_the_contracts_oauth_scopes():
    # The OAuth door takes its scopes from the allowlist; these are the contract's names.
    assert allowlist.load().scopes == (
        "customers:contact",
        "customers:contract",
        "customers:inquiries",
    )


def test_contract_ended_statuses_are_in_the_usage_status_vocabulary():
    contract = allowlist.load().spec("contract")
    usage = next(c for c in contract.children if c.name == "usage_status")
    assert usage.required
    assert CONTRACT_ENDED.issubset(usage.choices)


def test_fields_for_scopes_unions_the_groups_and_always_includes_the_key():
    current = allowlist.load()
    assert current.fields_for_scopes([]) == {"customer_id", "updated_at"}
    assert current.fields_for_scopes(["customers:contract", "openid"]) == {
        "customer_id", "updated_at", "contract", "fees",
    }  # fmt: skip


def _first_field(raw: dict) -> dict:
    return raw["fields"][0]


def _broken(mutate) -> dict:
    raw = _raw()
    mutate(raw)
    return raw


INVALID = {
    "missing item trace": lambda r: _first_field(r).pop("item"),
    "blank item trace": lambda r: _first_field(r).update(item=" "),
    "missing paragraph": lambda r: _first_field(r).pop("paragraph"),
    "paragraph other than 22.3": lambda r: _first_field(r).update(paragraph="22.2"),
    "nested field without trace": lambda r: r["fields"][9]["fields"][0].pop("item"),
    "unknown scope": lambda r: _first_field(r).update(scope="customers:credit"),
    "missing scope": lambda r: _first_field(r).pop("scope"),
    "duplicate field": lambda r: r["fields"].append(dict(_first_field(r))),
    "duplicate nested field": lambda r: r["fields"][9]["fields"].append(
        dict(r["fields"][9]["fields"][0])
    ),
    "unknown key (typo)": lambda r: _first_field(r).update(scopes="customers:contact"),
    "unknown kind": lambda r: _first_field(r).update(kind="blob"),
    "bad version": lambda r: r.update(version="latest"),
    "no always key": lambda r: r["always"].pop(0),
    "scope granting nothing": lambda r: r["scopes"].update({"customers:extra": "x"}),
    "metadata field in fields": lambda r: _first_field(r).update(metadata=True),
    "object without nested fields": lambda r: r["fields"][9].pop("fields"),
    "bad pattern": lambda r: r["always"][0].update(pattern="(["),
}


@pytest.mark.parametrize("mutate", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_definition_is_refused(mutate):
    assert _raw()["fields"][9]["name"] == "contract"
    with pytest.raises(ConfigurationError, match="^allowlist: "):
        parse_definition(_broken(mutate))


def test_a_key_defined_twice_in_the_toml_is_refused(tmp_path):
    path = tmp_path / "allowlist.toml"
    path.write_text(
        allowlist.DEFINITION_PATH.read_text(encoding="utf-8").replace(
            'name = "fax"', 'name = "fax"\nname = "fax2"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        read_definition(path)


def test_the_gateway_refuses_to_start_with_an_invalid_allowlist(monkeypatch, tmp_path):
    broken = tmp_path / "allowlist.toml"
    broken.write_text(
        allowlist.DEFINITION_PATH.read_text(encoding="utf-8").replace(
            'scope = "customers:contact"', 'scope = "customers:everything"', 1
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(allowlist, "DEFINITION_PATH", broken)
    allowlist.current.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="unknown scope"):
            Runtime.open(Config(database_url=f"sqlite:///{tmp_path / 'g.db'}"))
        assert not (tmp_path / "g.db").exists()
    finally:
        allowlist.current.cache_clear()
