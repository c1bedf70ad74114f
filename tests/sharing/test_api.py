"""The partner API: exactly the allowlisted items of designated, shareable customers, for a
declared joint-use purpose — each rule flipped on its own denies, with its status and a
logged reason; every request leaves one log entry before its answer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway.audit.models import AuditEntry
from gateway.customers import service as customers
from gateway.designations import service as designations
from gateway.oauth import clients
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import get_token, last_entry

SENTINEL = "SENTINEL-must-never-leave-7f3a"


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(app, make_reseller, clock):
    """acme (all scopes) designated by C-1 and C-2; bolt designated by C-3; C-4 designated
    acme but stopped use; C-5 exists but designated no one."""
    acme = make_reseller("acme")
    bolt = make_reseller("bolt", scopes="customers:contact")
    with app.extensions["gateway"].transaction() as session:
        for n in range(1, 6):
            factories.customer(
                session, clock, f"C-{n}", phone="03-0000-000" + str(n),
                credit_check=SENTINEL, internal_notes=SENTINEL,
                fees={"plan": "standard", "monthly_amount": "1200", "currency": "JPY"},
            )  # fmt: skip
        for customer_id in ("C-1", "C-2", "C-4"):
            factories.designation(session, clock, customer_id, "acme")
        factories.designation(session, clock, "C-3", "bolt")
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-4")
    return {"acme": get_token(http_client(app), acme), "bolt": get_token(http_client(app), bolt),
            "acme_reseller": acme}  # fmt: skip


def http_client(app):
    return app.test_client()


def _entries(app):
    with app.extensions["gateway"].transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def test_list_returns_only_the_callers_shareable_customers(http, world):
    response = http.get("/v1/customers?purpose=inquiry_response", headers=_bearer(world["acme"]))
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert [c["customer_id"] for c in body["customers"]] == ["C-1", "C-2"]
    assert body["next_cursor"] is None
    assert SENTINEL not in response.get_data(as_text=True)


def test_read_returns_exactly_the_fields_the_scopes_grant(http, world):
    response = http.get("/v1/customers/C-1?purpose=service_contact",
                        headers=_bearer(world["acme"]))  # fmt: skip
    assert response.status_code == 200
    body = response.json
    assert set(body) == {
        "customer_id", "updated_at", "account_id", "company_name", "department", "title",
        "name", "address", "email", "phone", "fax", "contract", "fees", "inquiries",
    }  # fmt: skip
    assert body["phone"] == "03-0000-0001"
    assert body["fees"]["monthly_amount"] == "1200"


def test_a_contact_only_token_gets_contact_fields_only(http, world):
    response = http.get("/v1/customers/C-3?purpose=inquiry_response",
                        headers=_bearer(world["bolt"]))  # fmt: skip
    assert response.status_code == 200
    assert {"contract", "fees", "inquiries"}.isdisjoint(response.json)


def test_fields_narrows_the_answer(http, world, app):
    response = http.get("/v1/customers/C-1?purpose=inquiry_response&fields=name,email",
                        headers=_bearer(world["acme"]))  # fmt: skip
    assert set(response.json) == {"customer_id", "updated_at", "name", "email"}
    entry = last_entry(app)
    assert (entry.action, entry.outcome, entry.purpose) == (
        "customers.read", "allowed", "inquiry_response",
    )  # fmt: skip
    assert json.loads(entry.items) == ["customer_id", "email", "name", "updated_at"]
    assert entry.allowlist_version == "2022-04-01"
    assert ["customer", "C-1"] in json.loads(entry.subjects)


def test_a_list_disclosure_logs_every_customer_and_item_name(http, world, app):
    http.get("/v1/customers?purpose=service_contact&fields=email", headers=_bearer(world["acme"]))
    entry = last_entry(app)
    subjects = json.loads(entry.subjects)
    assert ["customer", "C-1"] in subjects and ["customer", "C-2"] in subjects
    assert json.loads(entry.items) == ["customer_id", "email", "updated_at"]
    assert "@example.com" not in json.dumps([entry.items, entry.subjects, entry.details])


def _denied(http, app, url, token, status, rule):
    before = _entries(app)
    response = http.get(url, headers=_bearer(token))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert _entries(app) == before + 1
    entry = last_entry(app)
    assert (entry.outcome, entry.rule) == ("denied", rule)
    assert SENTINEL not in response.get_data(as_text=True)
    return response


@pytest.mark.parametrize(
    ("url", "status", "rule"),
    [
        ("/v1/customers/C-1", 400, "purpose_declared"),  # purpose missing
        ("/v1/customers", 400, "purpose_declared"),  # purpose missing
        ("/v1/customers/C-1?purpose=marketing", 400, "purpose_declared"),
        ("/v1/customers?purpose=", 400, "purpose_declared"),
        ("/v1/customers/C-1?purpose=inquiry_response&fields=credit_check", 400,
         "fields_allowlisted"),
        ("/v1/customers/C-1?purpose=inquiry_response&fields=name,internal_notes", 400,
         "fields_allowlisted"),
        ("/v1/customers/C-3?purpose=inquiry_response", 404, "customer_designated"),
        ("/v1/customers/C-5?purpose=inquiry_response", 404, "customer_designated"),
        ("/v1/customers/NOPE?purpose=inquiry_response", 404, "customer_designated"),
        ("/v1/customers/C-4?purpose=inquiry_response", 404, "customer_in_use"),
        ("/v1/customers?purpose=inquiry_response&limit=0", 400, "request_valid"),
        ("/v1/customers?purpose=inquiry_response&limit=100000", 400, "request_valid"),
        ("/v1/customers?purpose=inquiry_response&cursor=garbage", 400, "request_valid"),
        ("/v1/customers?purpose=inquiry_response&updated_since=yesterday", 400, "request_valid"),
        ("/v1/customers?purpose=inquiry_response&colour=red", 400, "request_valid"),
        ("/v1/customers?purpose=inquiry_response&purpose=service_contact", 400, "request_valid"),
    ],
)  # fmt: skip
def test_each_disclosure_rule_flipped_denies(http, app, world, url, status, rule):
    _denied(http, app, url, world["acme"], status, rule)


def test_an_unencoded_plus_in_updated_since_is_refused_with_the_fix(http, app, world):
    token, url = world["acme"], "/v1/customers?purpose=service_contact&updated_since="
    response = http.get(url + "2026-03-01T09:00:00+09:00", headers=_bearer(token))
    assert response.status_code == 400 and response.json["rule"] == "request_valid"
    assert "%2B" in response.json["detail"]
    encoded = http.get(url + "2026-03-01T09:00:00%2B09:00", headers=_bearer(token))
    assert encoded.status_code == 200


def test_fields_outside_the_tokens_scopes_are_refused_not_trimmed(http, app, world):
    response = _denied(http, app, "/v1/customers/C-3?purpose=inquiry_response&fields=name,fees",
                       world["bolt"], 403, "fields_in_scope")  # fmt: skip
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_undesignated_withheld_and_absent_customers_look_the_same(http, world):
    answers = [
        http.get(f"/v1/customers/{c}?purpose=inquiry_response", headers=_bearer(world["acme"]))
        for c in ("C-3", "C-4", "NOPE")
    ]
    assert {(a.status_code, a.get_data(as_text=True)) for a in answers} == {
        (answers[0].status_code, answers[0].get_data(as_text=True))
    }


def test_withdrawal_stop_of_use_and_revocation_end_access_at_once(http, app, world, clock):
    url = "/v1/customers/C-1?purpose=inquiry_response"
    token = world["acme"]
    assert http.get(url, headers=_bearer(token)).status_code == 200
    gateway = app.extensions["gateway"]
    with gateway.transaction() as session:
        designations.withdraw_designation(session, clock, factories.OPERATOR,
                                          customer_id="C-1", partner_id="acme")  # fmt: skip
    _denied(http, app, url, token, 404, "customer_designated")

    url = "/v1/customers/C-2?purpose=inquiry_response"
    with gateway.transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-2")
    _denied(http, app, url, token, 404, "customer_in_use")
    listed = http.get("/v1/customers?purpose=inquiry_response", headers=_bearer(token)).json
    assert listed["customers"] == []

    with gateway.transaction() as session:
        partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="acme",
                                reason="contract ended")  # fmt: skip
    _denied(http, app, "/v1/customers?purpose=inquiry_response", token, 401, "token_not_revoked")


def test_a_lapsed_nda_denies_even_a_fresh_token(http, app, make_reseller, clock):
    from gateway.clock import today

    day = today(clock)
    reseller = make_reseller("late", nda=(day - timedelta(days=300), day + timedelta(days=1)))
    token = get_token(http, reseller)
    clock.advance(timedelta(days=2))
    response = _denied(http, app, "/v1/customers?purpose=inquiry_response", token, 401,
                       "token_authentic")  # the token expired first  # fmt: skip
    assert response.status_code == 401


def test_a_disabled_client_is_denied(http, app, world, clock):
    with app.extensions["gateway"].transaction() as session:
        clients.disable_client(session, clock, factories.OPERATOR,
                               client_id=world["acme_reseller"].client_id)  # fmt: skip
    _denied(http, app, "/v1/customers?purpose=inquiry_response", world["acme"], 401,
            "token_not_revoked")  # fmt: skip


def test_pages_walk_every_customer_once(http, app, make_reseller, clock):
    reseller = make_reseller("many")
    with app.extensions["gateway"].transaction() as session:
        for n in range(25):
            factories.customer(session, clock, f"M-{n:03d}")
            factories.designation(session, clock, f"M-{n:03d}", "many")
    token = get_token(http, reseller)
    seen, cursor = [], None
    for _ in range(10):
        url = "/v1/customers?purpose=service_contact&limit=7&fields=name"
        response = http.get(url + (f"&cursor={cursor}" if cursor else ""), headers=_bearer(token))
        body = response.json
        seen += [c["customer_id"] for c in body["customers"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"M-{n:03d}" for n in range(25)] and len(seen) == 25


def test_updated_since_returns_only_what_changed(http, app, make_reseller, clock):
    reseller = make_reseller("sync")
    with app.extensions["gateway"].transaction() as session:
        for n in range(3):
            factories.customer(session, clock, f"S-{n}")
            factories.designation(session, clock, f"S-{n}", "sync")
    token = get_token(http, reseller)
    clock.advance(timedelta(seconds=10))
    mark = clock.now()
    clock.advance(timedelta(seconds=10))
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "S-1", name="Renamed")
    since = mark.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = http.get(f"/v1/customers?purpose=service_contact&updated_since={since}",
                    headers=_bearer(token)).json  # fmt: skip
    assert [c["customer_id"] for c in body["customers"]] == ["S-1"]
    assert body["customers"][0]["name"] == "Renamed"


def test_the_next_updated_since_is_given_on_every_page_and_picks_up_the_next_change(
    http, app, make_reseller, clock
):
    reseller = make_reseller("sync")
    with app.extensions["gateway"].transaction() as session:
        for n in range(3):
            factories.customer(session, clock, f"S-{n}")
            factories.designation(session, clock, f"S-{n}", "sync")
    clock.advance(timedelta(minutes=5))
    token = get_token(http, reseller)
    first = http.get("/v1/customers?purpose=service_contact&limit=2", headers=_bearer(token)).json
    clock.advance(timedelta(minutes=1))
    page_two = f"/v1/customers?purpose=service_contact&limit=2&cursor={first['next_cursor']}"
    second = http.get(page_two, headers=_bearer(token)).json
    assert second["next_cursor"] is None
    assert first["next_updated_since"] == second["next_updated_since"]
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "S-0", name="Renamed")
    clock.advance(timedelta(minutes=5))
    token = get_token(http, reseller)
    since = second["next_updated_since"]
    body = http.get(f"/v1/customers?purpose=service_contact&updated_since={since}",
                    headers=_bearer(token)).json  # fmt: skip
    assert [c["customer_id"] for c in body["customers"]] == ["S-0"]
    assert body["next_updated_since"] > since


def test_when_the_log_cannot_be_written_no_data_leaves(http, app, world):
    from sqlalchemy import delete

    from gateway.audit.models import AuditHead

    with app.extensions["gateway"].transaction() as session:
        session.execute(delete(AuditHead))
    response = http.get("/v1/customers/C-1?purpose=inquiry_response",
                        headers=_bearer(world["acme"]))  # fmt: skip
    assert response.status_code == 503
    assert "C-1" not in response.get_data(as_text=True)
    assert "example.com" not in response.get_data(as_text=True)
