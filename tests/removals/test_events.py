"""Removal events: every reason produces exactly one event for each reseller that received the
customer and none for others; resellers poll them (RFC 8936) as SETs (RFC 8417), acknowledge
them, and hostile polls change nothing."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from gateway import shutdown
from gateway.audit.models import AuditEntry
from gateway.customers import service as customers
from gateway.customers.importer import import_customers
from gateway.designations import service as designations
from gateway.removals.models import RemovalEvent
from gateway.removals.service import EVENT_TYPE
from tests import factories
from tests.removals.conftest import ISSUER, make_app

URN = EVENT_TYPE


def _events(world):
    with world["runtime"].transaction() as session:
        rows = session.scalars(select(RemovalEvent).order_by(RemovalEvent.partner_id))
        return [(e.partner_id, e.customer_id, e.reason) for e in rows]


def _poll(world, partner, body=None, http=None):
    client = http or world["http"]
    return client.post("/v1/events", json={} if body is None else body,
                       headers={"Authorization": f"Bearer {world['tokens'][partner]}"})  # fmt: skip


def _claims(world, token):
    keys = KeySet.import_key_set(world["http"].get("/oauth/jwks.json").json)
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "secevent+jwt"
    return decoded.claims


def test_a_stop_of_use_reaches_only_the_resellers_that_received_the_customer(world, clock):
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
    assert _events(world) == [("acme", "C-1", "stop_use")]  # bolt never received C-1


def test_a_withdrawn_designation_reaches_its_reseller_alone(world, clock):
    with world["runtime"].transaction() as session:
        designations.withdraw_designation(session, clock, factories.OPERATOR,
                                          customer_id="C-3", partner_id="bolt")  # fmt: skip
    assert _events(world) == [("bolt", "C-3", "designation_withdrawn")]


def test_a_withdrawn_designation_of_a_customer_never_received_makes_no_event(world, clock):
    with world["runtime"].transaction() as session:
        designations.withdraw_designation(session, clock, factories.OPERATOR,
                                          customer_id="C-2", partner_id="acme")  # fmt: skip
    assert _events(world) == []


def test_a_contract_ended_by_an_import_reaches_every_reseller_that_received(world, clock):
    line = {"customer_id": "C-3", "name": "Customer C-3",
            "contract": {"usage_status": "cancelled", "services": ["sync"]}}  # fmt: skip
    with world["runtime"].transaction() as session:
        import_customers(session, clock, factories.OPERATOR,
                         io.BytesIO(json.dumps(line).encode() + b"\n"),
                         allowlist=__import__("gateway").allowlist.current())  # fmt: skip
    assert _events(world) == [("acme", "C-3", "contract_ended"), ("bolt", "C-3", "contract_ended")]
    with world["runtime"].transaction() as session:  # once: re-importing it changes nothing
        import_customers(session, clock, factories.OPERATOR,
                         io.BytesIO(json.dumps(line).encode() + b"\n"),
                         allowlist=__import__("gateway").allowlist.current())  # fmt: skip
    assert len(_events(world)) == 2


def test_a_reseller_polls_its_events_as_signed_sets_and_acknowledges_them(world, clock):
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-3")
    polled = _poll(world, "acme")
    assert polled.status_code == 200, polled.get_data(as_text=True)
    assert polled.headers["Cache-Control"] == "no-store"
    body = polled.json
    assert body["moreAvailable"] is False and len(body["sets"]) == 1
    ((jti, token),) = body["sets"].items()
    claims = _claims(world, token)
    effective = claims["events"][URN]["effective_at"]
    day = (clock.now() + timedelta(hours=9)).date()  # the company's calendar (Asia/Tokyo)
    assert claims == {
        "iss": ISSUER, "aud": "acme", "iat": claims["iat"], "jti": jti,
        "events": {URN: {"customer_id": "C-3", "reason": "stop_use", "effective_at": effective,
                         "erase_by": (day + timedelta(days=7)).isoformat()}},
    }  # fmt: skip
    again = _poll(world, "acme")  # not acknowledged: delivered again
    assert list(again.json["sets"]) == [jti]
    acked = _poll(world, "acme", {"ack": [jti], "maxEvents": 10})
    assert acked.status_code == 200 and acked.json["sets"] == {}
    with world["runtime"].transaction() as session:
        event = session.get(RemovalEvent, jti)
        assert event.acked_at and event.acked_by == world["clients"]["acme"][0]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "events.poll")
                                .order_by(AuditEntry.seq.desc())).first()  # fmt: skip
    assert json.loads(entry.details) == {"acks": 1, "delivered": 0, "errors": 0}
    assert _poll(world, "bolt").json["sets"] != {}  # bolt's own event is still there


def test_an_ack_of_another_resellers_or_an_unknown_event_changes_nothing(world, clock):
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-3")
    bolts = list(_poll(world, "bolt").json["sets"])
    foreign = _poll(world, "acme", {"ack": bolts + ["no-such-event"], "maxEvents": 0})
    assert foreign.status_code == 200 and foreign.json == {"sets": {}, "moreAvailable": True}
    assert list(_poll(world, "bolt").json["sets"]) == bolts  # still waiting for bolt's own ack


def test_set_errors_are_recorded_and_the_event_stays_pending(world, clock):
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
    (jti,) = _poll(world, "acme").json["sets"]
    _poll(world, "acme", {"setErrs": {jti: {"err": "invalid_key", "description": "rotated"}}})
    with world["runtime"].transaction() as session:
        event = session.get(RemovalEvent, jti)
    assert event.error == "invalid_key: rotated" and event.acked_at is None


def test_max_events_pages_the_events(world, clock):
    with world["runtime"].transaction() as session:
        for customer in ("C-1", "C-3"):
            customers.stop_use(session, clock, factories.OPERATOR, customer_id=customer)
    first = _poll(world, "acme", {"maxEvents": 1}).json
    assert len(first["sets"]) == 1 and first["moreAvailable"] is True


@pytest.mark.parametrize(
    "body",
    [{"maxEvents": -1}, {"maxEvents": 10**6}, {"maxEvents": "5"}, {"maxEvents": True},
     {"ack": "jti"}, {"ack": [1, 2]}, {"ack": ["x" * 65]}, {"ack": ["j"] * 1001},
     {"setErrs": {"j": "oops"}}, {"setErrs": ["j"]}, {"returnImmediately": "yes"},
     {"unknown": 1}, [], "events"],
    ids=repr,
)  # fmt: skip
def test_a_hostile_poll_is_refused_and_changes_nothing(world, clock, body):
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
    before = _events(world)
    response = _poll(world, "acme", body)
    assert response.status_code == 400
    assert response.json["rule"] == "request_valid" and response.json["err"] == "invalid_request"
    with world["runtime"].transaction() as session:
        assert all(e.acked_at is None for e in session.scalars(select(RemovalEvent)))
    assert _events(world) == before


def test_a_poll_needs_a_valid_token(world):
    assert world["http"].post("/v1/events", json={}).status_code == 401


def test_events_survive_a_restart_and_an_ack_on_one_node_holds_on_the_other(world, config,
                                                                            clock):  # fmt: skip
    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-3")
    other = make_app(config, clock)  # another process or node on the same database
    try:
        (jti,) = _poll(world, "acme", http=other.test_client()).json["sets"]
        _poll(world, "acme", {"ack": [jti]})
        assert _poll(world, "acme", http=other.test_client()).json["sets"] == {}
    finally:
        shutdown(other)


def test_overdue_removals_are_listed_and_flagged(world, clock, cli):
    from gateway.audit.anomalies import find_anomalies
    from gateway.audit.reading import snapshot
    from gateway.audit.window import Window

    with world["runtime"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-3")
    listed = json.loads(cli("partners", "pending-removals", "--json").output)
    assert {(e["partner_id"], e["customer_id"], e["overdue"]) for e in listed} == {
        ("acme", "C-3", False),
        ("bolt", "C-3", False),
    }
    assert [
        e["partner_id"]
        for e in json.loads(cli("partners", "pending-removals", "bolt", "--json").output)
    ] == ["bolt"]
    (acme_jti,) = _poll(world, "acme").json["sets"]
    _poll(world, "acme", {"ack": [acme_jti]})
    late = (clock.now() + timedelta(days=9)).date()
    with snapshot(world["runtime"].engine) as connection:
        window = Window.parse(late.isoformat(), late.isoformat())
        flags = [f for f in find_anomalies(connection, window, today=late)
                 if f.rule == "removal_overdue"]  # fmt: skip
    assert [(f.partner, sorted(f.customers)) for f in flags] == [("bolt", ["C-3"])]
    assert cli("partners", "pending-removals", "nobody").exit_code == 1
