"""Each anomaly rule: a case that raises its flag, and its twin that does not."""

from __future__ import annotations

from datetime import timedelta

from gateway.audit.anomalies import find_anomalies
from gateway.audit.reading import snapshot
from gateway.audit.window import Window
from tests.audit.seeding import at, request


def _flags(runtime, since="2026-04-01", until="2026-04-30", rule=None):
    with snapshot(runtime.engine) as connection:
        flags = find_anomalies(connection, Window.parse(since, until))
    return [f for f in flags if rule is None or f.rule == rule]


def _history(session, clock, partner: str, per_day: int, days: int = 28) -> None:
    """``per_day`` customers a day, synced in office hours, for the ``days`` before April 10."""
    for back in range(days, 0, -1):
        day = at("2026-04-10T01:00:00Z") - timedelta(days=back)
        customers = tuple(f"{partner}-C-{n}" for n in range(per_day))
        request(session, clock, partner=partner, action="customers.list",
                customers=customers, when=day)  # fmt: skip


def _bulk(session, clock, partner: str, count: int) -> None:
    customers = tuple(f"{partner}-bulk-{n}" for n in range(count))
    request(session, clock, partner=partner, action="customers.list", customers=customers,
            when="2026-04-10T02:00:00Z")  # fmt: skip


def test_a_pull_far_above_the_daily_norm_is_flagged(runtime, clock):
    with runtime.transaction() as session:
        _history(session, clock, "acme", per_day=2)
        _bulk(session, clock, "acme", 30)
    (flag,) = _flags(runtime, "2026-04-10", "2026-04-10", rule="volume")
    assert (flag.partner, flag.count, flag.extra["day"], flag.extra["baseline"]) == (
        "acme", 30, "2026-04-10", 2.0,
    )  # fmt: skip


def test_a_pull_within_the_norm_or_below_the_floor_is_not_flagged(runtime, clock):
    with runtime.transaction() as session:
        _history(session, clock, "acme", per_day=15)
        _bulk(session, clock, "acme", 30)  # 2 x the norm: ordinary
        _bulk(session, clock, "tiny", 12)  # from nothing, but under the floor
    assert _flags(runtime, "2026-04-10", "2026-04-10", rule="volume") == []


def test_a_burst_of_denials_is_flagged_once(runtime, clock):
    with runtime.transaction() as session:
        for minute in range(6):
            request(session, clock, customers=(f"C-{minute}",), rule="customer_designated",
                    when=f"2026-04-02T01:0{minute}:00Z")  # fmt: skip
    (flag,) = _flags(runtime, rule="denials")
    assert (flag.client, flag.partner, flag.count) == ("acme-client", "acme", 6)
    assert (flag.first, flag.extra["rules"]) == (
        "2026-04-02T01:00:00.000000Z",
        ["customer_designated"],
    )


def test_denials_spread_out_are_not_flagged(runtime, clock):
    with runtime.transaction() as session:
        for n in range(6):
            request(session, clock, customers=(f"C-{n}",), rule="customer_designated",
                    when=f"2026-04-02T0{n}:00:00Z")  # fmt: skip
        for n in range(4):  # four close together: under the burst size
            request(session, clock, customers=(f"C-{n}",), rule="nda_in_force",
                    when=f"2026-04-03T01:0{n}:00Z")  # fmt: skip
    assert _flags(runtime, rule="denials") == []


def test_look_ups_at_night_or_on_a_weekend_are_flagged(runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, when="2026-04-01T15:00:00Z")  # Thursday 00:00 JST
        request(session, clock, when="2026-04-01T16:30:00Z")  # Thursday 01:30 JST
        request(session, clock, when="2026-04-04T02:00:00Z")  # Saturday 11:00 JST
    flags = _flags(runtime, rule="off_hours")
    assert [(f.partner, f.first, f.count) for f in flags] == [
        ("acme", "2026-04-01T15:00:00.000000Z", 2),
        ("acme", "2026-04-04T02:00:00.000000Z", 1),
    ]


def test_look_ups_in_office_hours_and_night_syncs_are_not_flagged(runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, when="2026-04-01T01:00:00Z")  # Wednesday 10:00 JST
        request(session, clock, when="2026-04-01T10:59:59Z")  # Wednesday 19:59 JST
        request(session, clock, action="customers.list", when="2026-04-01T18:00:00Z")  # sync
        request(session, clock, rule="customer_designated", when="2026-04-01T18:00:00Z")
    assert _flags(runtime, rule="off_hours") == []


def test_requests_for_a_withheld_customer_are_flagged(runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, customers=("C-9",), rule="customer_in_use",
                when="2026-04-02T01:00:00Z")  # fmt: skip
        request(session, clock, customers=("C-9",), rule="customer_in_use",
                when="2026-04-03T01:00:00Z")  # fmt: skip
    (flag,) = _flags(runtime, rule="withheld")
    assert (flag.partner, flag.customer, flag.count, flag.last) == (
        "acme", "C-9", 2, "2026-04-03T01:00:00.000000Z",
    )  # fmt: skip


def test_other_refusals_and_reads_of_shared_customers_are_not_withheld_flags(runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, customers=("C-9",), rule="customer_designated",
                when="2026-04-02T01:00:00Z")  # fmt: skip
        request(session, clock, customers=("C-9",), when="2026-04-02T02:00:00Z")
    assert _flags(runtime, rule="withheld") == []


def test_flags_outside_the_window_are_left_out(runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, customers=("C-9",), rule="customer_in_use",
                when="2026-03-31T23:59:59Z")  # fmt: skip
    assert _flags(runtime) == []


def test_anomalies_command_lists_flags(cli, runtime, clock):
    with runtime.transaction() as session:
        request(session, clock, customers=("C-9",), rule="customer_in_use",
                when="2026-04-02T01:00:00Z")  # fmt: skip
    result = cli("audit", "anomalies", "--since", "2026-04-01", "--until", "2026-04-30")
    assert result.exit_code == 0
    assert "withheld" in result.stdout and "C-9" in result.stdout


def test_a_resellers_first_load_is_labelled_not_flagged_as_volume(runtime, clock):
    with runtime.transaction() as session:
        _bulk(session, clock, "fresh", 500)  # its very first data: the initial sync
    assert _flags(runtime, "2026-04-10", "2026-04-10", rule="volume") == []
    (first,) = _flags(runtime, "2026-04-10", "2026-04-10", rule="first_load")
    assert (first.partner, first.count) == ("fresh", 500) and "first load" in first.detail


def test_a_flag_names_the_customers_it_concerns_and_has_a_stable_id(runtime, clock):
    with runtime.transaction() as session:
        for minute in range(6):
            request(session, clock, customers=(f"C-{minute}",), rule="customer_designated",
                    when=f"2026-04-02T01:0{minute}:00Z")  # fmt: skip
    (flag,) = _flags(runtime, rule="denials")
    assert flag.as_dict()["customers"] == [f"C-{n}" for n in range(6)]
    assert flag.id.startswith("denials-") and flag.id == _flags(runtime, rule="denials")[0].id


def test_business_hours_are_the_companys(runtime, clock):
    from zoneinfo import ZoneInfo

    with runtime.transaction() as session:
        # Wednesday 2026-04-01 01:00 UTC is 10:00 in Tokyo but 01:00 in London.
        request(session, clock, customers=("C-1",), when="2026-04-01T01:00:00Z")
    with snapshot(runtime.engine) as connection:
        window = Window.parse("2026-04-01", "2026-04-01")
        tokyo = find_anomalies(connection, window, ZoneInfo("Asia/Tokyo"))
        london = find_anomalies(connection, window, ZoneInfo("Europe/London"))
    def rules(flags):
        return [f.rule for f in flags if f.rule != "first_load"]

    assert rules(tokyo) == [] and rules(london) == ["off_hours"]


def test_the_desk_marks_a_flag_reviewed_and_the_note_stays_out_of_the_log(cli, runtime, clock):
    import json

    from sqlalchemy import select

    from gateway.audit.models import AuditEntry

    with runtime.transaction() as session:
        request(session, clock, customers=("C-9",), rule="customer_in_use",
                when="2026-04-03T01:00:00Z")  # fmt: skip
    (flag,) = _flags(runtime, rule="withheld")
    result = cli("audit", "review", flag.id, "--note", "山田様の件、販売代理店に削除を依頼済み")
    assert result.exit_code == 0, result.output
    (reviewed,) = _flags(runtime, rule="withheld")
    assert reviewed.review["by"] == "test-operator" and "削除を依頼済み" in reviewed.review["note"]
    with runtime.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "anomaly.review")
        ).one()
    assert json.loads(entry.details) == {"rule": "withheld"} and "山田" not in entry.details
    assert cli("audit", "review", "withheld-000000000000x", "--note", "x").exit_code == 1
    assert cli("audit", "review", flag.id, "--note", "  ").exit_code == 1
