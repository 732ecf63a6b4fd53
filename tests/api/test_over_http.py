"""The API as deployed code runs it: the real `function_app` behind the devhost over real HTTP. The function
key is required on every route but the ack link; the ack link's GET changes nothing and its POST acknowledges
as the contact the link was made for; a bad link is a page with a 4xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from shared.db.tables import alerts, silences
from shared.domain.ack_token import issue
from tests.api.seed import Demo
from tests.api.served import ACK_SECRET, Served, served
from tests.conftest import Database

__all__ = ["served"]


def test_every_api_route_needs_the_function_key_in_a_header_or_the_code_parameter(
    served: Served, demo: Demo
) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as client:
        assert client.get("/api/kpis").status_code == 401
        assert client.get("/api/kpis", headers={"x-functions-key": "wrong"}).status_code == 401
        assert client.get("/api/openapi.json").status_code == 401
        answer = client.get("/api/kpis", headers={"x-functions-key": served.key})
        assert answer.status_code == 200
        assert {item["indicator"] for item in answer.json()["items"]} == {"Deposits", "Idle", "Old"}
        assert client.get("/api/openapi.json", params={"code": served.key}).status_code == 200
        assert client.get("/api/health").status_code in {200, 503}  # anonymous, served by its own function
        missing = client.get("/api/nowhere", params={"code": served.key})
        assert (missing.status_code, missing.json()) == (404, {"error": "path: no such route"})


def test_every_operation_of_the_document_but_the_ack_page_needs_the_key_and_the_open_routes_do_not(
    served: Served, demo: Demo, database: Database
) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as client:
        document = client.get("/api/openapi.json", headers={"x-functions-key": served.key}).json()
        operations = [
            (method.upper(), path)
            for path, item in document["paths"].items()
            for method in item
            if path != "/api/alerts/{alert_id}/ack"
        ]
        assert len(operations) >= 11
        answers = {}
        for method, path in [
            *operations,
            ("GET", "/api/openapi.json"),
            ("GET", "/api/health/details"),
            ("GET", "/api/metrics"),
        ]:
            concrete = re.sub(r"\{[a-z_]+\}", str(demo.alert), path)
            body = (
                {"by": "mallory", "reason": "r", "for": "1h", "kpi": "Deposits"} if method == "POST" else None
            )
            answers[f"{method} {path}"] = [
                client.request(method, concrete, json=body, headers=headers).status_code
                for headers in ({}, {"x-functions-key": "wrong"})
            ]
        assert answers == {name: [401, 401] for name in answers}
        assert client.get("/api/health").status_code in {200, 503}
        assert client.get("/api/dashboard").status_code == 200
        assert client.get(f"/api/alerts/{demo.alert}/ack").status_code == 400  # no token: a page, not 401
    assert _status(database, demo.alert) == "open"  # nothing acted without the key
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(silences)) == 0


def test_acknowledge_over_http_records_the_actor(served: Served, demo: Demo) -> None:
    with httpx.Client(base_url=served.base, timeout=30, headers={"x-functions-key": served.key}) as client:
        answer = client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "alice"})
        assert (answer.status_code, answer.json()["acknowledged_by"]) == (200, "alice")
        timeline = client.get(f"/api/alerts/{demo.alert}").json()["timeline"]
    assert (timeline[-1]["type"], timeline[-1]["actor"]) == ("acknowledged", "alice")


def _link_token(demo: Demo, *, hours: float = 72) -> str:
    now = datetime.now(UTC)
    return issue(
        ACK_SECRET, alert_id=demo.alert, contact_id=demo.contact, now=now, ttl=timedelta(hours=hours)
    )


def _status(database: Database, alert_id: int) -> str:
    with database.engine.connect() as connection:
        return str(connection.scalar(select(alerts.c.status).where(alerts.c.id == alert_id)))


def test_the_ack_link_get_changes_nothing_and_its_post_acknowledges_as_the_contact(
    served: Served, demo: Demo, database: Database
) -> None:
    token = _link_token(demo)
    with httpx.Client(base_url=served.base, timeout=30) as client:  # no key: the token is the credential
        page = client.get(f"/api/alerts/{demo.alert}/ack", params={"token": token})
        assert page.status_code == 200
        assert "Acknowledge as Ops" in page.text
        assert _status(database, demo.alert) == "open"
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None
        done = client.post(
            f"/api/alerts/{demo.alert}/{action.group(1).replace('&amp;', '&')}", data={"token": token}
        )
        assert done.status_code == 200
        assert "Acknowledged" in done.text
    with database.engine.connect() as connection:
        row = connection.execute(select(alerts.c.status, alerts.c.acknowledged_by)).one()
    assert tuple(row) == ("acknowledged", "Ops")


def test_a_bad_ack_link_gets_a_clear_page_with_a_4xx_and_changes_nothing(
    served: Served, demo: Demo, database: Database
) -> None:
    expired = _link_token(demo, hours=-1)
    tampered = _link_token(demo)[:-2] + "xx"
    with httpx.Client(base_url=served.base, timeout=30) as client:
        for token, status, text in [
            (expired, 403, "has expired"),
            (tampered, 403, "not valid"),
            ("", 400, "not an acknowledgement link"),
            ("1.2.3", 400, "not an acknowledgement link"),
        ]:
            for method in ("GET", "POST"):
                page = client.request(method, f"/api/alerts/{demo.alert}/ack", params={"token": token})
                assert (page.status_code, page.headers["content-type"].split(";")[0]) == (status, "text/html")
                assert text in page.text
        page = client.get("/api/alerts/abc/ack", params={"token": tampered})
        assert (page.status_code, page.headers["content-type"].split(";")[0]) == (400, "text/html")
        page = client.get("/api/alerts/999999/ack", params={"token": tampered})
        assert page.status_code == 403  # the token was made for another alert
    assert _status(database, demo.alert) == "open"
