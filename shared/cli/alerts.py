"""`mgrid alerts ...`: listing, acknowledging and resolving alerts, delivering their events now."""

from __future__ import annotations

import argparse
import json

from shared import runtime
from shared.cli.common import Groups, emit, outcomes, with_json
from shared.domain.alert import AlertStatus
from shared.services.alerts.listing import recent_alerts


def register(groups: Groups) -> None:
    alerts = groups.add_parser("alerts", help="alerts").add_subparsers(required=True)
    listing = alerts.add_parser("list", help="the newest alerts first")
    listing.add_argument("--status", choices=[status.value for status in AlertStatus])
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    with_json(listing, _list)
    ack = alerts.add_parser("ack", help="acknowledge an open alert: its escalation stops")
    ack.add_argument("alert_id", type=int, metavar="ID")
    ack.add_argument("--by", required=True, help="who acknowledges (kept in the audit trail)")
    ack.add_argument("--note", help="a note for the audit trail")
    with_json(ack, _ack)
    resolve = alerts.add_parser("resolve", help="resolve an alert and tell everyone who was notified")
    resolve.add_argument("alert_id", type=int, metavar="ID")
    resolve.add_argument("--by", required=True, help="who resolves (kept in the audit trail)")
    resolve.add_argument("--reason", help="why (shown in the resolved notice)")
    with_json(resolve, _resolve)
    dispatch = alerts.add_parser("dispatch", help="deliver pending alert events now (as alert_escalation)")
    dispatch.add_argument("--limit", type=int, default=1000, help="at most this many events (default 1000)")
    with_json(dispatch, _dispatch)
    with_json(alerts.add_parser("process", help="one pass of alert_processor now"), _process)


def _list(args: argparse.Namespace) -> int:
    status = AlertStatus(args.status) if args.status else None
    listed = recent_alerts(runtime.monitoring_engine(), status=status, limit=args.limit)
    lines = [
        f"{alert.id:>6} {alert.status.value:<12} {alert.severity.value:<8} {alert.indicator or '(system)'} / "
        f"{alert.metric_key}  current={alert.current_value} baseline={alert.baseline_value} "
        f"deviation={alert.deviation_percent} opened={alert.opened_at:%Y-%m-%d %H:%M:%S}Z"
        for alert in listed
    ]
    emit(args, [alert.as_json() for alert in listed], "\n".join(lines) if lines else "no alerts")
    return 0


def _ack(args: argparse.Namespace) -> int:
    result = runtime.alert_actions().acknowledge(args.alert_id, by=args.by, note=args.note)
    state = "acknowledged" if result.changed else f"unchanged ({result.status.value})"
    emit(args, result.as_json(), f"alert {args.alert_id}: {state}")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    result = runtime.alert_actions().resolve(args.alert_id, by=args.by, reason=args.reason)
    document = result.as_json()
    text = f"alert {args.alert_id}: " + ("resolved" if result.changed else "already resolved")
    if result.event is not None:
        delivered = runtime.event_dispatcher().dispatch_now([result.event.event_id])
        document["notifications"] = delivered.summary()
        text += f"; resolved notice: {outcomes(delivered.summary())}"
    emit(args, document, text)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    report = runtime.event_dispatcher().dispatch_outbox(limit=args.limit)
    emit(args, report.summary(), f"{len(report.event_ids)} events dispatched: {outcomes(report.summary())}")
    return 0


def _process(args: argparse.Namespace) -> int:
    report = runtime.alert_processor().run()
    document = report.summary()
    delivered = runtime.event_dispatcher().dispatch_now([event.event_id for event in report.events])
    document["dispatched"] = delivered.summary()
    emit(args, document, json.dumps(document, indent=2))
    return 1 if report.errors else 0
