"""The HTML of the acknowledgement link's pages: small, self-contained, accessible (landmarks, a real form
button, readable contrast), with every value escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi.responses import HTMLResponse

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#111;"
    "background:#fff;line-height:1.5}dt{font-weight:600}dd{margin:0 0 .5rem 0}"
    "button{font-size:1.1rem;padding:.6rem 1.2rem;background:#0b57d0;color:#fff;border:0;border-radius:.3rem}"
    "button:focus{outline:3px solid #111;outline-offset:2px}"
)


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _facts(alert: dict[str, Any]) -> str:
    rows = [
        ("Alert", f"#{alert['id']}"),
        ("KPI", alert.get("indicator") or "(system)"),
        ("Metric", alert["metric_key"]),
        ("Severity", alert["severity"]),
        ("Status", alert["status"]),
        ("Opened", str(alert["opened_at"])),
        ("Current value", "n/a" if alert.get("current_value") is None else f"{alert['current_value']:g}"),
    ]
    if alert.get("acknowledged_by"):
        rows.append(("Acknowledged by", alert["acknowledged_by"]))
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows) + "</dl>"


def alert_page(alert: dict[str, Any], *, contact: str, token: str) -> str:
    action = f"ack?token={escape(token, quote=True)}"
    form = (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="token" value="{escape(token, quote=True)}">'
        f'<button type="submit">Acknowledge as {escape(contact)}</button></form>'
    )
    if alert["status"] != "open":
        form = f"<p>This alert is {escape(alert['status'])}; there is nothing to acknowledge.</p>"
    return _document(f"Alert #{alert['id']}", _facts(alert) + form)


def done_page(alert: dict[str, Any], *, changed: bool) -> str:
    note = "Acknowledged: escalation has stopped." if changed else "This alert was already acknowledged."
    return _document(f"Alert #{alert['id']}", f'<p role="status">{escape(note)}</p>' + _facts(alert))


def problem_page(status: int, text: str) -> HTMLResponse:
    return HTMLResponse(
        _document("Acknowledgement link", f'<p role="alert">{escape(text)}</p>'), status_code=status
    )
