"""Hostile cases found in review: a change committed while a request is answered, malformed
credentials, replays of refused assertions, out-of-range input, ids with a trailing newline,
missing keys — each refused, logged, and never a traceback."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from flask import g, jsonify
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.audit.spine import Event, Subject
from gateway.customers import service as customers
from gateway.oauth.models import AccessToken
from gateway.oauth.resource import require_token
from gateway.partners import service as partners
from tests import factories
from tests.oauth.conftest import assertion_form, basic, get_token, last_entry

CHANGING = "/test/changing"


@pytest.fixture
def changing_app(app, clock):
    """A protected endpoint during whose answer the operator changes something (revokes the
    partner or stops use of the customer) and commits — as a concurrent command would."""
    runtime = app.extensions["gateway"]
    state = {"change": None}

    @require_token("customers.read")
    def changing():
        access = g.access
        with runtime.transaction() as session:  # another unit of work, committed now
            if state["change"] == "revoke":
                partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="acme",
                                        reason="leak")  # fmt: skip
            elif state["change"] == "stop":
                customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
        access.log(Event(action="customers.read", actor=access.actor,
                         subjects=access.subjects + (Subject("customer", "C-1"),)))  # fmt: skip
        return jsonify(secret_of_c1="data")

    app.add_url_rule(CHANGING, "changing", changing)
    return state


def _actions(app):
    with app.extensions["gateway"].transaction() as session:
        return [(e.action, e.outcome, e.rule) for e in
                session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]  # fmt: skip


@pytest.mark.parametrize("change", ["revoke", "stop"])
def test_a_change_committed_while_answering_refuses_the_answer(http, app, make_reseller, clock,
                                                               changing_app, change):  # fmt: skip
    reseller = make_reseller()
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
    token = get_token(http, reseller)
    changing_app["change"] = change
    response = http.get(CHANGING, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (401, 404)
    assert "data" not in response.get_data(as_text=True)
    actions = _actions(app)
    changed_at = next(i for i, a in enumerate(actions)
                      if a[0] in ("partner.revoke", "customers.stop_use"))  # fmt: skip
    after = actions[changed_at + 1 :]
    assert after and all(outcome == "denied" for _, outcome, _ in after), after


def test_nothing_changed_the_answer_is_released(http, app, make_reseller, clock, changing_app):
    reseller = make_reseller()
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
    response = http.get(CHANGING, headers={"Authorization": f"Bearer {get_token(http, reseller)}"})
    assert response.status_code == 200
    assert last_entry(app).outcome == "allowed"


def test_undecodable_basic_credentials_are_invalid_client_and_logged(http, app):
    raw = base64.b64encode(b"\xff\xfe:\xff").decode()
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {raw}"})  # fmt: skip
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert (last_entry(app).action, last_entry(app).outcome) == ("token.issue", "denied")


def test_a_client_id_with_a_nul_is_unknown_not_an_outage(http, app):
    raw = base64.b64encode(b"cl_%00abcdefghijklmn:secret").decode()
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {raw}"})  # fmt: skip
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert last_entry(app).rule == "client_known"


def test_a_refused_assertion_cannot_be_replayed(http, app, make_reseller):
    reseller = make_reseller(secret=False, scopes="customers:contact")
    form = assertion_form(reseller, jti="refused-once")
    first = http.post("/oauth/token", data=form | {"scope": "customers:contract"})
    assert first.json["error"] == "invalid_scope"
    again = http.post("/oauth/token", data=form)
    assert again.status_code == 400 and again.json["error"] == "invalid_client"
    assert last_entry(app).rule == "client_assertion_unused"


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00%2B09:00", "9999-12-31T23:59:59-09:00"])
def test_an_out_of_range_updated_since_is_a_logged_400(http, app, make_reseller, since):
    token = get_token(http, make_reseller())
    response = http.get(f"/v1/customers?purpose=inquiry_response&updated_since={since}",
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 400
    assert (last_entry(app).outcome, last_entry(app).rule) == ("denied", "request_valid")


def test_a_customer_id_with_a_trailing_newline_is_no_customer(http, app, make_reseller, clock):
    reseller = make_reseller()
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
    token = get_token(http, reseller)
    response = http.get("/v1/customers/C-1%0A?purpose=inquiry_response",
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 404
    assert "\\n" not in last_entry(app).subjects and "\n" not in last_entry(app).subjects


def test_missing_signing_keys_are_a_logged_503_without_paths(http, app, make_reseller, clock):
    token = get_token(http, make_reseller())
    keys_dir = app.extensions["gateway"].config.keys_dir
    (keys_dir / "token-keys.json").rename(keys_dir / "elsewhere.json")
    clock.advance(timedelta(seconds=1))
    response = http.get("/v1/customers?purpose=inquiry_response",
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 503
    assert str(keys_dir) not in response.get_data(as_text=True)
    assert (last_entry(app).outcome, last_entry(app).rule) == ("denied", "internal_error")
    assert json.loads(last_entry(app).subjects) == []


@pytest.mark.parametrize("change", ["revoke", "lapse"])
def test_a_token_made_while_the_partner_is_revoked_is_never_issued(
    http, app, make_reseller, clock, monkeypatch, change
):
    """The token is signed from a snapshot; the operator's revocation, or the end of the NDA,
    comes before the token's row and log entry commit: the token is refused, stored nowhere."""
    reseller = make_reseller(secret=False)
    runtime, keys = app.extensions["gateway"], app.extensions["oauth"].keys
    signing_key = keys.current

    def change_then_sign():
        with runtime.transaction() as session:  # another unit of work, committed now
            if change == "revoke":
                partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="acme",
                                        reason="leak")  # fmt: skip
        if change == "lapse":
            clock.advance(timedelta(days=400))  # the NDA (a year) ends while the token is made
        return signing_key()

    monkeypatch.setattr(keys, "current", change_then_sign)
    response = http.post("/oauth/token", data=assertion_form(reseller))
    assert response.status_code in (400, 401)
    assert "access_token" not in response.get_data(as_text=True)
    entry = last_entry(app)
    assert (entry.action, entry.outcome) == ("token.issue", "denied")
    assert entry.rule == ("client_active" if change == "revoke" else "nda_in_force")
    with runtime.transaction() as session:
        assert session.scalars(select(AccessToken)).all() == []


def test_requests_committed_together_are_each_judged_on_their_own(http, app, make_reseller,
                                                                  clock, database_url):  # fmt: skip
    """Two reads reach the log's group commit together while a designation is withdrawn: the
    commit checks both customers in one statement, releases the one still designated and
    refuses the other."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's write lock from outside the gateway")
    import sqlite3
    import threading
    import time

    reseller = make_reseller()
    with app.extensions["gateway"].transaction() as session:
        for customer_id in ("C-1", "C-2"):
            factories.customer(session, clock, customer_id)
            factories.designation(session, clock, customer_id, "acme")
    bearer = {"Authorization": f"Bearer {get_token(http, reseller)}"}
    group_commit = app.extensions["group_commit"]
    outside = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")  # the gateway's commit now waits for this one
    statuses: dict[str, int] = {}

    def read(customer_id: str) -> None:
        response = app.test_client().get(f"/v1/customers/{customer_id}?purpose=inquiry_response",
                                         headers=bearer)  # fmt: skip
        statuses[customer_id] = response.status_code

    readers = [threading.Thread(target=read, args=(c,)) for c in ("C-1", "C-2")]
    for thread in readers:
        thread.start()
    deadline = time.monotonic() + 20
    while len(group_commit._waiting) < 2 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    assert len(group_commit._waiting) == 2  # noqa: SLF001 - both wait for the same commit
    outside.execute("UPDATE designations SET withdrawn_on = ? WHERE customer_id = 'C-2'",
                    (clock.now().date().isoformat(),))  # fmt: skip
    outside.execute("COMMIT")
    outside.close()
    for thread in readers:
        thread.join(30)
    assert statuses == {"C-1": 200, "C-2": 404}
    with app.extensions["gateway"].transaction() as session:
        last_two = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2))
        outcomes = sorted((next(i for k, i in json.loads(e.subjects) if k == "customer"),
                           e.outcome) for e in last_two)  # fmt: skip
    assert outcomes == [("C-1", "allowed"), ("C-2", "denied")]


def test_a_secret_is_checked_while_another_writer_holds_the_log(http, app, make_reseller,
                                                                database_url):  # fmt: skip
    """The slow secret hash runs in the request's read snapshot: a token request gets as far
    as the log's commit while another writer holds the database, and is answered once it
    lets go."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's write lock from outside the gateway")
    import sqlite3
    import threading
    import time

    reseller = make_reseller()
    group_commit = app.extensions["group_commit"]
    outside = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    statuses: list[int] = []
    asking = threading.Thread(target=lambda: statuses.append(app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(reseller),
    ).status_code))  # fmt: skip
    asking.start()
    deadline = time.monotonic() + 20
    while not group_commit._leading and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    assert group_commit._leading and not statuses  # noqa: SLF001 - checked, waiting to commit
    outside.execute("COMMIT")
    outside.close()
    asking.join(30)
    assert statuses == [200]
