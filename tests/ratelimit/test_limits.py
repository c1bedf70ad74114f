"""Rate limits: per client on the partner API and the token endpoint, per source address on
failed authentication (token endpoint, console sign-in), checked before any slow hash.
Over a limit: 429 with Retry-After, in the shape of the endpoint; the first refusal of the
minute is logged with the count of the minute before, the rest are counted, not logged."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from gateway import shutdown
from gateway.audit.models import AuditEntry
from tests.ratelimit.conftest import PASSWORD, PROTECTED, make_app

TOKEN = {"grant_type": "client_credentials"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _entries(app, rule: str = "rate_limited") -> list[AuditEntry]:
    with app.extensions["gateway"].transaction() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.rule == rule)))


def _token(http, reseller) -> str:
    response = http.post("/oauth/token", data=TOKEN, headers=_basic(*reseller))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["access_token"]


def test_a_client_over_its_partner_api_limit_gets_429_with_retry_after(app, reseller):
    http = app.test_client()
    bearer = {"Authorization": f"Bearer {_token(http, reseller)}"}
    assert [http.get(PROTECTED, headers=bearer).status_code for _ in range(3)] == [200] * 3
    over = [http.get(PROTECTED, headers=bearer) for _ in range(4)]
    assert {r.status_code for r in over} == {429}
    first = over[0]
    assert first.mimetype == "application/problem+json"
    assert first.json["rule"] == "rate_limited" and first.json["status"] == 429
    assert 1 <= int(first.headers["Retry-After"]) <= 60
    logged = _entries(app)
    assert len(logged) == 1  # four refusals, one entry this minute
    assert (logged[0].action, logged[0].actor_id) == ("customers.read", reseller[0])
    assert json.loads(logged[0].details) == {
        "counted": "client",
        "limit_per_minute": 3,
        "refused_previous_minute": 0,
    }


def test_a_resellers_own_limit_replaces_the_default(app, reseller, cli):
    http = app.test_client()
    assert cli("partners", "limits", "acme", "--per-minute", "5").exit_code == 0
    bearer = {"Authorization": f"Bearer {_token(http, reseller)}"}
    statuses = [http.get(PROTECTED, headers=bearer).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    listed = json.loads(cli("partners", "list", "--json").output)
    assert {p["id"]: p["rate_limit_per_minute"] for p in listed} == {"acme": 5, "other": None}
    with app.extensions["gateway"].transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "partner.limits")
        ).one()
    assert json.loads(entry.details) == {"per_minute": 5}
    assert cli("partners", "limits", "acme", "--default").exit_code == 0
    assert "default" in cli("partners", "list").output


def test_the_limits_command_refuses_bad_input(app, reseller, cli):
    for args in (
        ("--per-minute", "0"),
        ("--per-minute", "-3"),
        ("--per-minute", "2000000"),
        ("--per-minute", "5", "--default"),
        (),
    ):
        result = cli("partners", "limits", "acme", *args)
        assert result.exit_code != 0, args
        assert len(result.output.strip().splitlines()) <= 3 and "Traceback" not in result.output
    assert cli("partners", "limits", "nobody", "--per-minute", "5").exit_code == 1
    with app.extensions["gateway"].transaction() as session:
        changed = session.scalars(select(AuditEntry).where(AuditEntry.action == "partner.limits"))
        assert list(changed) == []  # refused: nothing changed, nothing logged


def test_failed_authentications_from_an_address_are_limited_before_the_hash(app, reseller):
    http = app.test_client()
    client_id, secret = reseller
    wrong = [
        http.post("/oauth/token", data=TOKEN, headers=_basic(client_id, "x" * 43)) for _ in range(3)
    ]
    assert [r.status_code for r in wrong] == [401] * 3
    # Even the right secret is refused now, from this address: nothing is hashed.
    refused = http.post("/oauth/token", data=TOKEN, headers=_basic(client_id, secret))
    assert refused.status_code == 429
    assert refused.json["error"] == "rate_limited" and "Retry-After" in refused.headers
    logged = _entries(app)
    assert len(logged) == 1 and logged[0].actor_id == "unauthenticated"
    assert json.loads(logged[0].details)["source"] == "127.0.0.1"
    # Another address is not held back.
    elsewhere = http.post(
        "/oauth/token",
        data=TOKEN,
        headers=_basic(client_id, secret),
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert elsewhere.status_code == 200


def test_tokens_issued_to_a_client_are_limited_and_only_issued_ones_count(app, reseller):
    http = app.test_client()
    client_id, secret = reseller
    # Someone else's failures with this client's id do not spend the client's budget.
    for _ in range(2):
        attacker = http.post(
            "/oauth/token",
            data=TOKEN,
            headers=_basic(client_id, "y" * 43),
            environ_base={"REMOTE_ADDR": "198.51.100.9"},
        )
        assert attacker.status_code == 401
    assert [
        http.post("/oauth/token", data=TOKEN, headers=_basic(*reseller)).status_code
        for _ in range(3)
    ] == [200, 200, 429]
    logged = _entries(app)
    assert len(logged) == 1 and logged[0].actor_id == client_id
    assert json.loads(logged[0].details)["counted"] == "client"


def test_console_sign_in_failures_from_an_address_are_limited(app, reseller):
    http = app.test_client()
    page = http.get("/console/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "name": "desk"}
    for _ in range(3):
        assert http.post("/console/login", data=form | {"password": "wrong" * 3}).status_code == 401
    right = http.post("/console/login", data=form | {"password": PASSWORD})
    assert right.status_code == 429 and "Retry-After" in right.headers
    assert 'id="too-many"' in right.get_data(as_text=True)
    logged = _entries(app)
    assert [(e.action, e.actor_id) for e in logged] == [("console.login", "staff:(unknown)")]


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(config, clock, reseller):
    proxied = make_app(config, clock, trusted_proxies=1)
    try:
        http = proxied.test_client()
        client_id, _ = reseller
        for _ in range(3):
            http.post(
                "/oauth/token",
                data=TOKEN,
                headers=_basic(client_id, "x" * 43) | {"X-Forwarded-For": "203.0.113.5"},
            )
        from_proxy = http.post(
            "/oauth/token",
            data=TOKEN,
            headers=_basic(client_id, "x" * 43) | {"X-Forwarded-For": "203.0.113.5"},
        )
        other_client = http.post(
            "/oauth/token",
            data=TOKEN,
            headers=_basic(client_id, "x" * 43) | {"X-Forwarded-For": "203.0.113.6"},
        )
        assert (from_proxy.status_code, other_client.status_code) == (429, 401)
    finally:
        shutdown(proxied)


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(app, reseller):
    http = app.test_client()
    client_id, _ = reseller
    statuses = [
        http.post(
            "/oauth/token",
            data=TOKEN,
            headers=_basic(client_id, "x" * 43) | {"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # one peer address, whatever the header says


def test_an_unreachable_shared_store_lets_requests_through(config, clock, reseller):
    from tests.server import free_port

    unreachable = make_app(config, clock, rate_limit_storage=f"redis://127.0.0.1:{free_port()}/0")
    try:
        http = unreachable.test_client()
        bearer = {"Authorization": f"Bearer {_token(http, reseller)}"}
        assert [http.get(PROTECTED, headers=bearer).status_code for _ in range(5)] == [200] * 5
    finally:
        shutdown(unreachable)
