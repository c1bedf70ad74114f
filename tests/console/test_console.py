"""The console through Flask's test client, on SQLite and PostgreSQL: sign-in and its cookie,
lock-out, roles, CSRF, logging of every view, keyset paging of the log, revocation, the
public notice."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from gateway import create_app, shutdown
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject, record
from gateway.oauth import clients
from gateway.partners.models import Partner
from tests import factories
from tests.console.conftest import PASSWORD, csrf_of, entries, sign_in


def _cookie_header(response) -> str:
    return next(v for k, v in response.headers.items() if k == "Set-Cookie")


def test_sign_in_sets_a_strict_http_only_session_cookie(app, staff):
    staff("alice", "privacy_desk")
    response = sign_in(app.test_client(), "alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    cookie = _cookie_header(response)
    assert cookie.startswith("console=")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # the issuer here is http
    login = entries(app, "console.login")[-1]
    assert (login.actor_kind, login.actor_id, login.outcome) == (
        "operator",
        "staff:alice",
        "allowed",
    )


def test_session_cookie_is_secure_and_host_only_when_served_over_https(config, clock, staff):
    application = create_app(replace(config, issuer="https://gateway.example"), clock=clock)
    try:
        from gateway.console import service

        with application.extensions["gateway"].transaction() as session:
            service.add_staff(
                session, clock, factories.OPERATOR, name="alice", role="operator", password=PASSWORD
            )
        cookie = _cookie_header(sign_in(application.test_client(), "alice"))
        assert cookie.startswith("__Host-console=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    finally:
        application.extensions["gateway"].close()


def test_session_secret_is_made_owner_only_in_the_keys_dir(app, staff, config):
    staff("alice", "privacy_desk")
    sign_in(app.test_client(), "alice")
    secret = config.keys_dir / "console-session.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_bytes()) == 32


def test_pages_need_a_session(app):
    response = app.test_client().get("/console/log?customer=C-1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=/console/log")


def test_wrong_password_is_refused_and_logged_without_the_password(app, staff):
    staff("alice", "privacy_desk")
    response = sign_in(app.test_client(), "alice", "wrong password here")
    assert response.status_code == 401
    assert "Sign-in failed" in response.get_data(as_text=True)
    entry = entries(app, "console.login")[-1]
    assert (entry.outcome, entry.rule) == ("denied", "bad_password")
    assert "wrong password" not in entry.details


def test_unknown_name_is_logged_without_the_typed_name(app):
    response = sign_in(app.test_client(), "typed-a-secret-here", "whatever at all")
    assert response.status_code == 401
    entry = entries(app, "console.login")[-1]
    assert (entry.actor_id, entry.rule) == ("staff:(unknown)", "unknown_account")
    assert "typed-a-secret" not in json.dumps([entry.subjects, entry.details, entry.actor_id])


def test_five_failures_lock_the_account_for_fifteen_minutes(app, staff, clock):
    staff("alice", "privacy_desk")
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "alice", "not the password").status_code == 401
    # Locked: the right password is refused too, on any worker (the lock is in the database).
    other_worker = app.test_client()
    assert sign_in(other_worker, "alice").status_code == 401
    assert entries(app, "console.login")[-1].rule == "account_locked"
    clock.advance(timedelta(minutes=14))
    assert sign_in(other_worker, "alice").status_code == 401
    clock.advance(timedelta(minutes=1, seconds=1))
    assert sign_in(other_worker, "alice").status_code == 302


def test_a_success_resets_the_failure_count(app, staff):
    staff("alice", "privacy_desk")
    client = app.test_client()
    for _ in range(4):
        sign_in(client, "alice", "not the password")
    assert sign_in(client, "alice").status_code == 302
    for _ in range(4):
        sign_in(client, "alice", "not the password")
    assert sign_in(client, "alice").status_code == 302


def test_post_without_the_csrf_token_is_refused_and_changes_nothing(app, operator, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme")
    response = operator.post(
        "/console/resellers/acme/revoke",
        data={"step": "revoke", "reason": "leak", "confirm": "yes"},
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    forged = operator.post(
        "/console/resellers/acme/revoke",
        data={"step": "revoke", "reason": "leak", "confirm": "yes", "csrf_token": "forged"},
    )
    assert forged.status_code == 400
    with app.extensions["gateway"].transaction() as session:
        assert session.get(Partner, "acme").status == "active"
    refused = entries(app, "console.refused")
    assert [(e.actor_id, e.rule) for e in refused] == [("staff:ops", "csrf_token")] * 2


def test_sign_in_without_the_csrf_token_is_refused(app, staff):
    staff("alice", "privacy_desk")
    client = app.test_client()
    client.get("/console/login")
    response = client.post("/console/login", data={"name": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert entries(app, "console.login") == []


def test_privacy_desk_cannot_revoke(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme")
    page = desk.get("/console/resellers")
    assert page.status_code == 200
    assert "revoke-acme" not in page.get_data(as_text=True)
    assert desk.get("/console/resellers/acme/revoke").status_code == 403
    token = csrf_of(page)
    response = desk.post(
        "/console/resellers/acme/revoke",
        data={"csrf_token": token, "step": "revoke", "reason": "leak", "confirm": "yes"},
    )
    assert response.status_code == 403
    with app.extensions["gateway"].transaction() as session:
        assert session.get(Partner, "acme").status == "active"
    denied = [e for e in entries(app, "console.view") if e.outcome == "denied"]
    assert [(e.rule, json.loads(e.details)["page"]) for e in denied] == [
        ("staff_role", "resellers.revoke")
    ] * 2


def test_operators_do_not_read_the_log(app, operator):
    for path in (
        "/console/log",
        "/console/reports/customer?customer_id=C-1",
        "/console/reports/breach",
        "/console/anomalies",
        "/console/verification",
    ):
        assert operator.get(path).status_code == 403, path
    assert entries(app, "audit.browse") == []
    assert entries(app, "audit.report") == []


def test_operator_revokes_with_a_reason_and_a_confirmation(app, operator, clock):
    runtime = app.extensions["gateway"]
    with runtime.transaction() as session:
        factories.partner(session, clock, "acme")
        clients.add_client(
            session,
            clock,
            factories.OPERATOR,
            partner_id="acme",
            scopes="customers:contact",
            with_secret=True,
        )
    form = operator.get("/console/resellers/acme/revoke")
    token = csrf_of(form)
    step_one = operator.post(
        "/console/resellers/acme/revoke",
        data={"csrf_token": token, "step": "confirm", "reason": "NDA ended"},
    )
    assert step_one.status_code == 200
    assert 'id="confirm-revoke"' in step_one.get_data(as_text=True)
    with runtime.transaction() as session:
        assert session.get(Partner, "acme").status == "active"  # not yet
    unticked = operator.post(
        "/console/resellers/acme/revoke",
        data={"csrf_token": token, "step": "revoke", "reason": "NDA ended"},
    )
    assert unticked.status_code == 400
    done = operator.post(
        "/console/resellers/acme/revoke",
        data={"csrf_token": token, "step": "revoke", "reason": "NDA ended", "confirm": "yes"},
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/console/resellers?revoked=acme"
    with runtime.transaction() as session:
        assert session.get(Partner, "acme").status == "revoked"
        assert [c.status for c in clients.list_clients(session, "acme")] == ["disabled"]
    revoke = entries(app, "partner.revoke")[-1]
    assert revoke.actor_id == "staff:ops"
    assert json.loads(revoke.details)["reason"] == "NDA ended"
    assert json.loads(revoke.details)["clients_disabled"] == 1


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, staff):
    staff("alice", "privacy_desk")
    client = app.test_client()
    sign_in(client, "alice")
    stolen = client.get_cookie("console").value
    token = csrf_of(client.get("/console/"))
    assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert entries(app, "console.logout")[-1].actor_id == "staff:alice"
    replay = app.test_client()
    replay.set_cookie("console", stolen)
    assert replay.get("/console/log").status_code == 302


def test_disabling_an_account_ends_its_sessions(app, desk, clock):
    from gateway.console import service

    assert desk.get("/console/").status_code == 200
    with app.extensions["gateway"].transaction() as session:
        service.disable_staff(session, clock, factories.OPERATOR, name="desk")
    assert desk.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "desk").status_code == 401


def test_sessions_end_when_idle_and_when_old(app, desk, clock):
    clock.advance(timedelta(minutes=29))
    assert desk.get("/console/").status_code == 200
    clock.advance(timedelta(minutes=31))
    assert desk.get("/console/").status_code == 302
    client = app.test_client()
    sign_in(client, "desk")
    for _ in range(16):
        clock.advance(timedelta(minutes=29))
        assert client.get("/console/").status_code == 200
    clock.advance(timedelta(minutes=29))  # past 8 hours since sign-in, though never idle
    assert client.get("/console/").status_code == 302


def test_every_page_view_is_logged(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
    paths = {
        "/console/": ("console.view", "home"),
        "/console/log?customer=C-1&action=customers.read": ("audit.browse", None),
        "/console/reports/customer?customer_id=C-1": ("audit.report", "customer"),
        "/console/reports/breach?partner=acme&since=2026-03-01&until=2026-03-31": (
            "audit.report",
            "breach",
        ),
        "/console/reports/breach?partner=acme&since=2026-03-01&until=2026-03-31&format=csv": (
            "audit.report",
            "breach",
        ),
        "/console/anomalies": ("audit.report", "anomalies"),
        "/console/verification": ("console.view", "verification"),
        "/console/resellers": ("console.view", "resellers"),
    }
    for path, (action, what) in paths.items():
        before = len(entries(app))
        assert desk.get(path).status_code == 200, path
        new = entries(app)[before:]
        assert [e.action for e in new] == [action], path
        assert new[0].actor_id == "staff:desk"
        details = json.loads(new[0].details)
        if what:
            assert what in (details.get("page"), details.get("report")), path
    browse = entries(app, "audit.browse")[-1]
    assert json.loads(browse.subjects) == [["customer", "C-1"]]
    assert json.loads(browse.details)["action"] == "customers.read"


def test_a_bulk_entry_folds_its_customers_and_keeps_the_filtered_ones_line(app, desk, clock):
    actor = Actor(ActorKind.CLIENT, "cl_test")
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "C-0042")
        record(session, Event(action="customers.list", actor=actor, purpose="service_contact",
                              subjects=(Subject("partner", "acme"),
                                        *(Subject("customer", f"C-{n:04d}") for n in range(500))),
                              items=("customer_id", "name")), clock=clock)  # fmt: skip
        record(session, Event(action="customers.read", actor=actor, outcome=Outcome.DENIED,
                              rule="customer_not_withheld",
                              subjects=(Subject("partner", "acme"), Subject("customer", "C-0042"))),
               clock=clock)  # fmt: skip
    page = desk.get("/console/log?customer=C-0042").get_data(as_text=True)
    row = page.split("<td>customers.list</td>")[1].split("</tr>")[0]
    assert "customer:C-0042" in row and "500 " in row and "<details" in row
    assert row.count("customer:C-") == 1  # one line, not five hundred
    assert "customer_in_use" in page and "logged as customer_not_withheld" in page


def test_an_unknown_customer_or_reseller_is_said_so_with_near_matches(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
        factories.customer(session, clock, "DEMO-0001", company_name="桜商事株式会社")
    before = len(entries(app))
    page = desk.get("/console/reports/customer?customer_id=demo-0001")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "no customer &#39;demo-0001&#39; is known to the gateway" in text
    assert 'href="/console/reports/customer?customer_id=DEMO-0001"' in text
    breach = desk.get(
        "/console/reports/breach?partner=Acme+Sales&since=2026-03-01&until=2026-03-31"
    )
    assert breach.status_code == 404 and "did you mean acme?" in breach.get_data(as_text=True)
    # Nothing was reported on a typo: the only entries are the page views.
    assert {e.action for e in entries(app)[before:]} == {"console.view"}
    log = desk.get("/console/log?customer=NO-SUCH-ID").get_data(as_text=True)
    assert "no customer &#39;NO-SUCH-ID&#39; is known" in log
    form = desk.get("/console/reports/breach").get_data(as_text=True)
    assert '<option value="acme">Acme Sales K.K. (acme)</option>' in form


def test_the_desk_finds_a_customer_by_their_own_data(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "DEMO-0001", company_name="桜商事株式会社",
                           phone="03-1234-5678")  # fmt: skip
    text = desk.get("/console/reports/customer?q=桜商事").get_data(as_text=True)
    assert 'href="/console/reports/customer?customer_id=DEMO-0001"' in text
    search = entries(app, "console.view")[-1]
    assert json.loads(search.details) == {"page": "report.customer", "search": True, "found": 1}
    assert "桜商事" not in search.details  # the words searched for are not logged


def test_a_customer_never_disclosed_is_said_so_since_the_log_began(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.customer(session, clock, "C-QUIET")
    text = desk.get("/console/reports/customer?customer_id=C-QUIET").get_data(as_text=True)
    assert 'id="none-recorded"' in text and "since 20" in text


def _fill(app, clock, count: int) -> None:
    """``count`` reseller reads: odd ones about C-1 by acme, even ones about C-2 by bolt."""
    actor = Actor(ActorKind.CLIENT, "cl_test")
    with app.extensions["gateway"].transaction() as session:
        for n in range(1, count + 1):
            customer, partner = ("C-1", "acme") if n % 2 else ("C-2", "bolt")
            record(
                session,
                Event(
                    action="customers.read",
                    actor=actor,
                    purpose="inquiry_response",
                    subjects=(Subject("partner", partner), Subject("customer", customer)),
                    items=("name", "email"),
                    allowlist_version="2022-04-01",
                ),
                clock=clock,
            )
            clock.advance(timedelta(seconds=1))


def _seqs(response) -> list[int]:
    import re

    return [
        int(n) for n in re.findall(r'<th scope="row">(\d+)</th>', response.get_data(as_text=True))
    ]


def test_log_pages_by_key_through_filters(app, desk, clock):
    _fill(app, clock, 130)
    first = desk.get("/console/log?customer=C-1&partner=acme&purpose=inquiry_response")
    seqs = _seqs(first)
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    walked = list(seqs)
    page = first
    while 'id="older"' in page.get_data(as_text=True):
        import re

        href = re.search(r'href="([^"]+)" id="older"', page.get_data(as_text=True)).group(1)
        assert "before=" in href and "offset" not in href
        page = desk.get(href.replace("&amp;", "&"))
        walked += _seqs(page)
    assert len(walked) == 65 == len(set(walked))
    assert walked == sorted(walked, reverse=True)
    # Each page read is logged, with the cursor it began at.
    browses = entries(app, "audit.browse")
    assert [json.loads(b.details)["before"] for b in browses][1:] == [walked[49]]
    # A customer who is not the reseller's gets nothing.
    assert _seqs(desk.get("/console/log?customer=C-1&partner=bolt&action=customers.read")) == []


def test_log_time_window_is_inclusive_of_whole_days(app, staff, clock):
    _fill(app, clock, 10)  # from 2026-04-01T09:00Z, one a second
    clock.advance(timedelta(days=1))
    _fill(app, clock, 3)
    staff("desk", "privacy_desk")
    desk = app.test_client()
    sign_in(desk, "desk")
    day_one = _seqs(desk.get("/console/log?action=customers.read&until=2026-04-01"))
    assert len(day_one) == 10
    day_two = _seqs(desk.get("/console/log?action=customers.read&since=2026-04-02"))
    assert len(day_two) == 3
    assert _seqs(desk.get("/console/log?since=2027-01-01")) == []
    bad = desk.get("/console/log?since=yesterday&outcome=maybe")
    assert bad.status_code == 200
    assert "is not a date" in bad.get_data(as_text=True)


def test_log_page_reads_the_subject_index(app, clock):
    """The customer filter goes through audit_subjects, not a scan of the log."""
    from sqlalchemy import select

    from gateway.audit.reading import snapshot
    from gateway.console import service

    _fill(app, clock, 5)
    engine = app.extensions["gateway"].engine
    with snapshot(engine) as connection:
        page = service.log_page(connection, service.LogFilter(customer="C-2"), size=1)
        assert [e["seq"] for e in page.entries] == [4] and page.older == 4
        assert [
            e["seq"]
            for e in service.log_page(
                connection, service.LogFilter(customer="C-2"), before=4, size=5
            ).entries
        ] == [2]
    del select


def test_the_customer_report_is_an_answer_ready_to_send(app, desk, clock):
    from gateway.customers import service as customers

    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme", name="桜販売株式会社")
        factories.customer(session, clock, "C-1", company_name="見本商事株式会社", name="山田 花子")
        factories.designation(session, clock, "C-1", "acme")
    _fill(app, clock, 3)  # acme reads C-1 with name and email, for inquiry_response
    with app.extensions["gateway"].transaction() as session:
        customers.stop_use(session, clock, factories.OPERATOR, customer_id="C-1")
    text = desk.get("/console/reports/customer?customer_id=C-1").get_data(as_text=True)
    recipients = text.split('id="recipients"')[1].split("</table>")[0]
    assert "桜販売株式会社" in recipients and "acme" in recipients
    designated = (clock.now() - timedelta(days=7)).date().isoformat()
    assert designated in recipients
    assert "JST" in recipients and "Z<" not in recipients  # the company's calendar, not UTC
    assert 'id="stop-use"' in text
    letter = text.split('id="letter"')[1].split("</pre>")[0]
    assert "見本商事株式会社 山田 花子 様" in letter
    assert "桜販売株式会社" in letter and "氏名、電子メールアドレス" in letter
    assert "迅速かつ適切に対応するため" in letter and "提供も停止しています" in letter
    assert "個人情報保護相談窓口" in letter


def test_the_letter_from_the_cli_and_the_same_answer_as_json(app, cli, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme", name="桜販売株式会社")
        factories.customer(session, clock, "C-1", company_name="見本商事株式会社")
    _fill(app, clock, 1)
    letter = cli("audit", "report", "customer", "C-1", "--letter").output
    assert letter.startswith("見本商事株式会社 Customer C-1 様") and "桜販売株式会社" in letter
    body = json.loads(cli("audit", "report", "customer", "C-1", "--json").output)
    assert body["answer"]["recipients"][0]["company_name"] == "桜販売株式会社"
    assert body["answer"]["recipients"][0]["items_text"] == "氏名、電子メールアドレス"


def test_customer_report_and_breach_csv(app, desk, clock):
    _fill(app, clock, 6)
    report = desk.get("/console/reports/customer?customer_id=C-1")
    text = report.get_data(as_text=True)
    assert "acme" in text and "bolt" not in text
    # Purposes and items in the notice's words, not codes.
    assert text.count("お客様からの依頼または問い合わせに対して迅速かつ適切に対応するため") >= 3
    assert "氏名、電子メールアドレス" in text and "inquiry_response" not in text
    csv = desk.get(
        "/console/reports/breach?partner=bolt&since=2026-04-01&until=2026-04-01&format=csv"
    )
    assert csv.status_code == 200
    assert csv.mimetype == "text/csv"
    assert "attachment" in csv.headers["Content-Disposition"]
    lines = csv.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == (
        "customer_id,company_name,department,name,email,phone,address,items,first,last,disclosures"
    )
    assert lines[1].startswith("C-2,") and lines[1].endswith(",3")
    assert "氏名、電子メールアドレス" in lines[1]
    assert "persons,1" in lines  # the totals close the file


def test_anomaly_flags_link_their_entries_and_are_marked_reviewed(app, desk, clock):
    from gateway.audit.models import AnomalyReview

    actor = Actor(ActorKind.CLIENT, "cl_test")
    with app.extensions["gateway"].transaction() as session:
        for minute in range(6):
            record(session, Event(action="customers.read", actor=actor, outcome=Outcome.DENIED,
                                  rule="customer_designated",
                                  subjects=(Subject("partner", "acme"),
                                            Subject("customer", f"C-{minute}"))),
                   clock=clock)  # fmt: skip
            clock.advance(timedelta(minutes=1))
    page = desk.get("/console/anomalies").get_data(as_text=True)
    row = page.split('<tr id="denials-')[1].split("</tr>")[0]
    flag_id = "denials-" + row.split('"')[0]
    assert 'href="/console/reports/customer?customer_id=C-0"' in row
    assert 'class="entries" href="/console/log?since=' in row and "outcome=denied" in row
    token = csrf_of(desk.get("/console/anomalies"))
    saved = desk.post(
        "/console/anomalies/review",
        data={"csrf_token": token, "flag": flag_id, "note": "a broken integration"},
    )
    assert saved.status_code == 302
    with app.extensions["gateway"].transaction() as session:
        review = session.get(AnomalyReview, flag_id)
    assert (review.reviewed_by, review.note) == ("staff:desk", "a broken integration")
    again = desk.get("/console/anomalies").get_data(as_text=True)
    assert "a broken integration" in again and "staff:desk" in again
    assert entries(app, "anomaly.review")[-1].actor_id == "staff:desk"
    refused = desk.post(
        "/console/anomalies/review", data={"csrf_token": token, "flag": "nothing", "note": "x"}
    )
    assert refused.status_code == 400


def test_the_desk_works_a_request_through_the_register(app, desk, clock):
    from sqlalchemy import select

    from gateway.customers.models import Customer
    from gateway.removals.models import RemovalEvent
    from gateway.rights.models import RightsRequest

    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme")
        factories.customer(session, clock, "C-1")
        factories.designation(session, clock, "C-1", "acme")
    _fill(app, clock, 1)  # acme received C-1
    token = csrf_of(desk.get("/console/rights"))
    day = clock.now().date().isoformat()
    opened = desk.post("/console/rights", data={"csrf_token": token, "customer_id": "C-1",
                                                "kind": "deletion", "received_on": day})
    assert opened.status_code == 302
    request_id = opened.headers["Location"].rsplit("/", 1)[1]
    page = desk.get(f"/console/rights/{request_id}").get_data(as_text=True)
    assert 'id="act-erase"' in page and "request=" + request_id in page
    unconfirmed = desk.post(f"/console/rights/{request_id}/act",
                            data={"csrf_token": token, "action": "erase"})
    assert "cannot+be+undone" in unconfirmed.headers["Location"]
    with app.extensions["gateway"].transaction() as session:
        assert session.get(Customer, "C-1") is not None  # not erased without the tick
    erased = desk.post(f"/console/rights/{request_id}/act",
                       data={"csrf_token": token, "action": "erase", "confirm": "yes"})
    assert erased.status_code == 302
    with app.extensions["gateway"].transaction() as session:
        assert session.get(Customer, "C-1") is None
        assert [e.partner_id for e in session.scalars(select(RemovalEvent))] == ["acme"]
    page = desk.get(f"/console/rights/{request_id}").get_data(as_text=True)
    assert 'id="removals"' in page and "acme" in page
    closed = desk.post(f"/console/rights/{request_id}/close",
                       data={"csrf_token": token, "outcome": "done", "note": "erased"})
    assert closed.status_code == 302
    with app.extensions["gateway"].transaction() as session:
        assert session.get(RightsRequest, request_id).outcome == "done"
    assert [e.action for e in entries(app) if e.action.startswith("rights.")] == [
        "rights.open", "rights.act", "rights.close"]
    register = desk.get("/console/rights?show=closed").get_data(as_text=True)
    assert request_id in register


def test_the_resellers_page_lists_ended_resellers_without_a_destruction_record(app, desk, clock):
    from gateway.partners import service as partners

    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "gone", name="Gone Trading K.K.")
        partners.revoke_partner(session, clock, factories.OPERATOR, partner_id="gone",
                                reason="contract ended")  # fmt: skip
        factories.partner(session, clock, "kept", name="Kept K.K.")
    listed = desk.get("/console/resellers").get_data(as_text=True).split('id="no-destruction"')[1]
    assert "Gone Trading K.K. (gone)" in listed and "Kept K.K." not in listed
    assert 'href="/console/reports/breach?partner=gone"' in listed


def test_operators_do_not_see_the_register(app, operator):
    assert operator.get("/console/rights").status_code == 403


def test_the_leak_page_answers_the_reporting_test_and_the_deadlines(app, desk, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
    _fill(app, clock, 3)
    plain = desk.get("/console/reports/breach?partner=acme&learnt_on=2026-04-10")
    text = plain.get_data(as_text=True)
    assert plain.status_code == 200
    assert 'id="persons">1<' in text and "not reportable" in text.lower()
    assert 'id="reporting-test"' in text and "PPC rules art. 7(iv)" in text
    theft = desk.get("/console/reports/breach?partner=acme&learnt_on=2026-04-10"
                     "&unlawful_purpose=1").get_data(as_text=True)  # fmt: skip
    reportable = theft.split('id="reportable"')[1].split("</p>")[0]
    assert "2026-04-13–2026-04-15" in reportable and "2026-06-09" in reportable
    form = desk.get("/console/reports/breach?partner=acme").get_data(as_text=True)
    assert '<select id="client" name="client">' in form


def _seal_now(app, clock):
    from gateway.audit.checkpoint import CheckpointKeys
    from gateway.audit.sealing import seal

    runtime = app.extensions["gateway"]
    keys = CheckpointKeys(runtime.config.keys_dir)
    keys.init(clock.now().isoformat())
    with runtime.transaction() as session:
        return seal(session, clock, keys, actor=factories.OPERATOR)


def test_verify_now_records_the_verdict_and_shows_it(app, desk, clock):
    _fill(app, clock, 3)
    _seal_now(app, clock)
    token = csrf_of(desk.get("/console/verification"))
    response = desk.post("/console/verification", data={"csrf_token": token})
    assert response.status_code == 200
    assert "Intact" in response.get_data(as_text=True)
    verify = entries(app, "audit.verify")[-1]
    assert json.loads(verify.details)["intact"] is True
    status = desk.get("/console/verification").get_data(as_text=True)
    assert "staff:desk" in status and "intact" in status


def test_a_log_never_sealed_is_not_shown_intact(app, desk, clock):
    _fill(app, clock, 3)
    status = desk.get("/console/verification").get_data(as_text=True)
    assert 'class="sealed-never"' in status and "Not yet sealed" in status
    token = csrf_of(desk.get("/console/verification"))
    verdict = desk.post("/console/verification", data={"csrf_token": token}).get_data(as_text=True)
    assert "Not yet sealed" in verdict and ">Intact<" not in verdict
    assert 'class="warn verdict"' in verdict


def test_the_page_says_what_the_seal_covers_and_what_it_does_not(app, desk, clock):
    _fill(app, clock, 2)
    sealed = _seal_now(app, clock)
    _fill(app, clock, 3)
    status = desk.get("/console/verification").get_data(as_text=True)
    assert f"entries 1–{sealed.size}, signed {sealed.at}" in status
    tail = status.split('id="unsealed">')[1].split("</dd>")[0]
    assert f"({sealed.size + 1}–" in tail and "protected by the hash chain only" in tail


def test_the_desk_downloads_the_public_keys_and_a_verifiable_export(app, desk, clock, tmp_path):
    from gateway.audit.checkpoint import load_trusted
    from gateway.audit.verifier import verify_export

    _fill(app, clock, 4)
    _seal_now(app, clock)
    keys = desk.get("/console/verification/checkpoint-keys.json")
    assert keys.status_code == 200 and "attachment" in keys.headers["Content-Disposition"]
    assert "private" not in keys.get_data(as_text=True).lower()
    token = csrf_of(desk.get("/console/verification"))
    export = desk.post("/console/verification/export", data={"csrf_token": token})
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].startswith('attachment; filename="access-log-')
    lines = export.get_data(as_text=True).splitlines()
    (tmp_path / "keys.json").write_bytes(keys.get_data())
    report = verify_export(iter(lines), load_trusted(tmp_path / "keys.json"))
    assert report.intact and report.complete
    logged = entries(app, "audit.export")[-1]
    assert logged.actor_id == "staff:desk" and json.loads(logged.details)["via"] == "console"
    refused = desk.post("/console/verification/export", data={})
    assert refused.status_code == 400  # no CSRF token: refused, nothing exported


def test_resellers_show_nda_state(app, operator, clock):
    from gateway.clock import today

    day = today(clock)
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "fresh")
        factories.partner(
            session, clock, "soon", nda=(day - timedelta(days=300), day + timedelta(days=10))
        )
        factories.partner(
            session, clock, "old", nda=(day - timedelta(days=400), day - timedelta(days=1))
        )
        factories.partner(session, clock, "none", with_nda=False)
    text = operator.get("/console/resellers").get_data(as_text=True)
    import re

    states = dict(re.findall(r'<tr id="reseller-(\w+)">.*?class="nda-(\w+)"', text, re.S))
    assert states == {"fresh": "in_force", "soon": "lapsing", "old": "lapsed", "none": "lapsed"}


def test_resellers_show_each_clients_sender_constraint(app, operator, clock):
    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme")
        bound, _ = clients.add_client(session, clock, factories.OPERATOR, partner_id="acme",
                                      scopes="customers:contact", with_secret=True)  # fmt: skip
        bearer, _ = clients.add_client(session, clock, factories.OPERATOR, partner_id="acme",
                                       scopes="customers:contact", with_secret=True,
                                       sender_constraint="none")  # fmt: skip
    text = operator.get("/console/resellers").get_data(as_text=True)
    assert f"<code>{bound.client_id}</code> (active, client_secret_basic, DPoP)" in text
    after = text.split(f"<code>{bearer.client_id}</code>", 1)[1][:300]
    assert "DPoP" not in after.split("</div>")[0] and "送信者制約なし" in after


def test_an_incomplete_notice_is_said_so_on_the_home_page(app, desk):
    assert app.extensions["gateway"].config.notice_missing  # the fixture sets neither
    home = desk.get("/console/").get_data(as_text=True)
    assert 'id="notice-incomplete"' in home and "GATEWAY_CONTROLLER_ADDRESS" in home
    notice = app.test_client().get("/joint-use").get_data(as_text=True)
    assert '<dd id="controller-address">—</dd>' in notice


def test_a_complete_notice_names_the_address_representative_and_its_date(config, clock):
    from dataclasses import replace

    from gateway import create_app

    complete = replace(config, controller_address="〒101-0041 東京都千代田区神田須田町2-2-2",
                       controller_representative="代表取締役 見本 太郎")  # fmt: skip
    assert complete.notice_missing == ()
    app = create_app(complete, clock=clock)
    try:
        text = app.test_client().get("/joint-use").get_data(as_text=True)
        assert "東京都千代田区神田須田町2-2-2" in text and "代表取締役 見本 太郎" in text
        day = clock.now().astimezone(complete.zone).date().isoformat()
        assert 'id="published-on"' in text and f"In this form since</span>: {day}" in text
        # A later start with the same notice keeps its date; a changed notice gets a new one.
        clock.advance(timedelta(days=3))
        again = create_app(complete, clock=clock)
        assert day in again.test_client().get("/joint-use").get_data(as_text=True)
        changed = create_app(replace(complete, controller_representative="代表取締役 別人"),
                             clock=clock)  # fmt: skip
        later = clock.now().astimezone(complete.zone).date().isoformat()
        assert later in changed.test_client().get("/joint-use").get_data(as_text=True)
        for extra in (again, changed):
            shutdown(extra)
    finally:
        shutdown(app)


def test_public_notice_lists_items_purposes_and_resellers_in_force(app, clock):
    from gateway.partners import service as partners

    with app.extensions["gateway"].transaction() as session:
        factories.partner(session, clock, "acme", name="Acme Sales K.K.")
        factories.partner(session, clock, "gone", name="Gone Trading K.K.")
        factories.partner(session, clock, "bare", name="No NDA K.K.", with_nda=False)
        partners.revoke_partner(
            session, clock, factories.OPERATOR, partner_id="gone", reason="contract ended"
        )
    before = len(entries(app))
    response = app.test_client().get("/joint-use")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True)
    for label in (
        "氏名",
        "電子メールアドレス",
        "その他契約情報",
        "申込日",
        "調査・回答内容",
        "email address",
        "inquiry contents",
    ):
        assert label in text, label
    assert "Acme Sales K.K." in text
    assert "Gone Trading K.K." not in text and "No NDA K.K." not in text
    assert "株式会社ウェブインパクト" in text and "info@webimpact.co.jp" in text
    assert "迅速かつ適切に対応するため" in text
    assert '<html lang="ja">' in text and 'lang="en"' in text
    assert len(entries(app)) == before  # a public page: nothing about the reader is logged


def test_notice_contact_comes_from_the_configuration(config, clock):
    configured = replace(
        config, controller_name="Example K.K.", privacy_desk_contact="privacy@example.com"
    )
    application = create_app(configured, clock=clock)
    try:
        text = application.test_client().get("/joint-use").get_data(as_text=True)
        assert "Example K.K." in text and "privacy@example.com" in text
        assert "webimpact" not in text
    finally:
        application.extensions["gateway"].close()


def test_console_pages_forbid_framing_scripts_from_elsewhere_and_caching(desk):
    response = desk.get("/console/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_partner_api_gets_no_console_cookie(app):
    response = app.test_client().get("/healthz")
    assert "Set-Cookie" not in response.headers
    assert not (app.extensions["gateway"].config.keys_dir / "console-session.key").exists()


def test_parallel_failures_each_count_towards_the_lock_out(app, staff):
    """Guesses sent at once from several workers cannot slip past the count."""
    import threading

    staff("alice", "privacy_desk")
    clients = [app.test_client() for _ in range(10)]
    tokens = [csrf_of(client.get("/console/login")) for client in clients]
    start = threading.Barrier(len(clients))

    def guess(client, token):
        start.wait()
        client.post("/console/login", data={"name": "alice", "password": "a wrong guess",
                                            "csrf_token": token})  # fmt: skip

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    rules = sorted(e.rule for e in entries(app, "console.login"))
    assert rules == ["account_locked"] * 5 + ["bad_password"] * 5


def _plan(connection, statement) -> str:
    from sqlalchemy import text

    compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))
    return "\n".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def test_log_pages_walk_an_index_in_order_and_never_sort_the_log(app, clock):
    from gateway.audit.reading import snapshot
    from gateway.console import service

    _fill(app, clock, 20)
    filters = [
        service.LogFilter(),
        service.LogFilter(customer="C-1"),
        service.LogFilter(partner="acme", outcome="allowed"),
        service.LogFilter(customer="C-1", partner="acme", purpose="inquiry_response"),
    ]
    with snapshot(app.extensions["gateway"].engine) as connection:
        for filt in filters:
            plan = _plan(connection, service.log_query(filt, before=15, bounds=(2, 18)))
            if connection.dialect.name == "postgresql":
                assert "Seq Scan" not in plan and "Sort" not in plan, plan
            else:
                assert "TEMP B-TREE" not in plan, plan
                assert not any(
                    line.startswith("SCAN") and "USING" not in line for line in plan.splitlines()
                ), plan
