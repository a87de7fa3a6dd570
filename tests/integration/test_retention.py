"""The retention policy on a real database: what goes, what stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from service import retention
from service.adapters.db import history_repo, standing_repo
from service.adapters.db import schema as t
from service.domain import law
from service.state import rebuild
from tests.integration.test_pipeline import make_pipeline, msg, walk_in
from tests.support import builders

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {tb.name: conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar_one()
                for tb in (t.location_reports, t.alerts, t.alert_log, t.outbox, t.zones, t.zone_membership,
                           t.access_audit)}


def end(engine, order_id: str, at: datetime, resolve: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The court ends the order at ``at``; its alerts are then closed by the police (``resolve``): an order with
    an alert still being handled is never purged."""
    with engine.begin() as conn:
        standing = standing_repo.load_standing(conn, order_id)
        ended, event = law.cancel(standing, law.Actor("judge", "court"), "set aside", at)  # type: ignore[arg-type]
        standing_repo.save_standing(conn, ended, at)
        history_repo.add_order_event(conn, event)
        if resolve:
            conn.execute(sa.update(t.alerts).where(t.alerts.c.order_id == order_id)
                         .values(status="resolved", resolved_at=at, resolved_by="officer", outcome="other"))


def test_an_order_is_kept_while_an_alert_is_open_and_a_back_dated_end_counts_from_its_grace(engine) -> None:
    """Issue 13 review: a cancellation decided long before it was entered must not make the retention
    purge what was received while the order was still enforced, nor an alert still being handled."""
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())  # a breach at her home: an open alert
    entered = T0 + timedelta(days=100)
    with engine.begin() as conn:
        standing = standing_repo.load_standing(conn, "PSO-2026-0001")
        ended, event = law.cancel(standing, law.Actor("judge", "court"), "set aside", entered,  # type: ignore[arg-type]
                                  decided_at=standing.issued_at + timedelta(hours=1))  # type: ignore[union-attr]
        standing_repo.save_standing(conn, ended, entered)
        history_repo.add_order_event(conn, event)
    # 365 days after the decision, but only 265 after the order stopped being enforced: kept
    assert retention.apply(engine, lambda: T0 + timedelta(days=366), 365, 365).orders == []
    # long after: still kept while its breach alert is unresolved
    assert retention.apply(engine, lambda: T0 + timedelta(days=800), 365, 365).orders == []
    with engine.begin() as conn:
        conn.execute(sa.update(t.alerts).values(status="resolved", resolved_at=entered, resolved_by="officer"))
    assert retention.apply(engine, lambda: T0 + timedelta(days=800), 365, 365).orders == ["PSO-2026-0001"]


def test_an_order_ended_longer_ago_than_the_policy_loses_its_case_data_and_nothing_else(engine) -> None:
    pipeline = make_pipeline(engine)  # the example order, a breach at its home
    pipeline.process(walk_in())
    with engine.begin() as conn:
        conn.execute(sa.insert(t.access_audit).values(at=T0 - timedelta(days=300), actor="old", action="sign_in",
                                                      outcome="ok"))
        conn.execute(sa.insert(t.access_audit).values(at=T0 + timedelta(days=390), actor="recent", action="sign_in",
                                                      outcome="ok"))
    end(engine, "PSO-2026-0001", T0 + timedelta(hours=2))  # announced: notices to the court, police, her phone
    before = counts(engine)
    assert before["alerts"] and before["location_reports"] == 5 and before["zones"] == 2
    early = retention.apply(engine, lambda: T0 + timedelta(days=30), 365, 365)
    assert early.orders == [] and counts(engine)["alerts"] == before["alerts"]  # ended 30 days ago: kept

    later = T0 + timedelta(days=400)
    dry = retention.apply(engine, lambda: later, 365, 365, dry_run=True)
    assert dry.orders == ["PSO-2026-0001"] and counts(engine) == before  # counted, nothing deleted
    done = retention.apply(engine, lambda: later, 365, 365)
    after = counts(engine)
    assert done.orders == ["PSO-2026-0001"] and done.deleted["location_reports"] == 5
    assert after | {"access_audit": 0} == {"location_reports": 0, "alerts": 0, "alert_log": 0, "outbox": 0, "zones": 0,
                                           "zone_membership": 0, "access_audit": 0}
    assert after["access_audit"] == 1  # the sign-in older than the audit's 365 days is gone, the recent one kept
    with engine.connect() as conn:
        order = conn.execute(sa.select(t.orders.c.status, t.orders.c.body)).one()
        bodies = conn.execute(sa.select(t.order_versions.c.body)).scalars().all()
        history = [e["event"] for e in history_repo.order_history(conn, "PSO-2026-0001")]
    assert order.status == "cancelled" and set(order.body) == {"order_id", "purged_at"}
    assert all("zones" not in b for b in bodies)  # the victim's places are gone from every version
    assert history[-2:] == ["cancelled", "purged"]
    assert retention.apply(engine, lambda: later, 365, 365).orders == []  # once


def test_reports_a_device_sent_for_an_order_still_kept_stay(engine) -> None:
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())  # trk-001's five reports, at T0 .. T0 + 40 s
    from service.importing import import_orders

    reused = builders.order_for(2, issued_at="2026-11-21T08:00:20Z")  # trk-001 again, from 20 s in, still in force
    reused["respondent"] = builders.order()["respondent"]  # the same respondent, with a second order (another victim)
    import_orders(engine, [(reused, "b.json")], lambda: T0)
    end(engine, "PSO-2026-0001", T0 + timedelta(minutes=1))
    done = retention.apply(engine, lambda: T0 + timedelta(days=800), 365, 365)
    assert done.orders == ["PSO-2026-0001"]
    with engine.connect() as conn:
        left = sorted(s for (s,) in conn.execute(sa.select(t.location_reports.c.seq)))
    assert left == [3, 4, 5]  # taken at 20, 30 and 40 s: order 2's too, so kept


def test_the_remainder_of_a_window_after_what_is_kept() -> None:
    a, b = T0, T0 + timedelta(hours=10)
    kept = [(T0 + timedelta(hours=2), T0 + timedelta(hours=3)), (T0 + timedelta(hours=8), T0 + timedelta(hours=12))]
    assert retention.windows_without((a, b), kept) == [(a, T0 + timedelta(hours=2)),
                                                      (T0 + timedelta(hours=3), T0 + timedelta(hours=8))]
    assert retention.windows_without((a, b), []) == [(a, b)]
    assert retention.windows_without((a, b), [(a - timedelta(days=1), b + timedelta(days=1))]) == []


def test_a_device_belongs_to_an_order_only_while_it_stood_for_its_party(engine) -> None:
    """A replaced tracker: the order's until the new one's first report (the handover), not after."""
    from service.adapters.db import timeline_repo
    from service.importing import import_orders

    pipeline = make_pipeline(engine)  # issued 2026-11-20T09:00Z, trk-001, imported at T0
    changed = builders.order(**{"min_distance_m": None, "pre_alert_m": None})
    changed["respondent"] = {**changed["respondent"], "device_id": "trk-009"}
    import_orders(engine, [(changed, "new-tracker.json")], lambda: T0 + timedelta(hours=1))
    with engine.begin() as conn:
        rebuild(pipeline.monitor, conn)  # as serve's config watcher does
    pipeline.process([msg("trk-009", "location", builders.location(1, 30.5, 103.9, ts=T0 + timedelta(hours=1, minutes=5)))])
    with engine.connect() as conn:
        periods = timeline_repo.device_periods(conn, ["PSO-2026-0001"])["PSO-2026-0001"]
    assert [(p.role, p.device_id, p.start, p.end) for p in periods if p.role == "respondent"] == [
        ("respondent", "trk-001", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), T0 + timedelta(hours=1, minutes=5)),
        ("respondent", "trk-009", T0 + timedelta(hours=1), None)]
