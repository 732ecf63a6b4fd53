"""Every route of the management API against a real monitoring database (SQLite and PostgreSQL), through the
ASGI app in process: shapes of DESIGN section 9, filters, cursors, errors naming their field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.db.tables import alert_events, alerts, kpi_executions, kpis
from tests.api.seed import Demo
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi


def test_the_kpi_list_gives_each_kpi_its_state_open_alerts_and_latest_metrics(
    client: TestClient, demo: Demo
) -> None:
    response = client.get("/api/kpis")
    assert response.status_code == 200
    items = {item["indicator"]: item for item in response.json()["items"]}
    assert {name: item["state"] for name, item in items.items()} == {
        "Deposits": "alerting",
        "Idle": "never_run",
        "Old": "inactive",
    }
    deposits = items["Deposits"]
    assert (deposits["open_alerts"], deposits["last_status"]) == (1, "succeeded")
    assert deposits["metrics"] == [
        {"key": "k", "current": 42.0, "expected": 10.0, "lower": 8.0, "upper": 12.0, "breach": True}
    ]


def test_one_kpi_carries_its_definitions_file_entry(client: TestClient, demo: Demo) -> None:
    document = client.get(f"/api/kpis/{demo.deposits}").json()
    assert document["indicator"] == "Deposits"
    assert document["definition"]["indicator"] == "Deposits"
    assert document["definition"]["contacts"] == [{"name": "Ops", "level": 0}]


def test_history_gives_the_values_and_bands_in_the_range_oldest_first(client: TestClient, demo: Demo) -> None:
    start = (NOW - timedelta(hours=3)).isoformat()
    response = client.get(
        f"/api/kpis/{demo.deposits}/history", params={"from": start, "to": NOW.isoformat(), "key": "k"}
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["current"] for item in items] == [13.0, 12.0, 11.0]
    assert items[0]["lower"] == 8.0


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/kpis/999", 404, "kpi_id: no KPI with id 999"),
        ("/api/kpis/abc", 400, "kpi_id:"),
        ("/api/kpis/1/history?from=yesterday", 422, "from:"),
        ("/api/kpis/1/history?from=2026-01-01T00:00:00", 422, "from: give a time zone"),
        ("/api/alerts?status=closed", 422, "status:"),
        ("/api/alerts?limit=0", 422, "limit:"),
        ("/api/alerts?cursor=Not-A-Cursor", 422, "cursor: String should match pattern"),
        ("/api/alerts?kpi=Nope", 404, "kpi: no KPI 'Nope'"),
        ("/api/alerts/999", 404, "alert_id: no alert with id 999"),
        ("/api/nowhere", 404, "path: no such route"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field(
    client: TestClient, demo: Demo, path: str, status: int, error: str
) -> None:
    response = client.get(path.replace("/kpis/1/", f"/kpis/{demo.deposits}/"))
    assert response.status_code == status
    assert response.json()["error"].startswith(error)


def test_alerts_page_newest_first_with_an_opaque_cursor(
    client: TestClient, demo: Demo, database: Database
) -> None:
    from tests.api.seed import alert

    with database.engine.begin() as connection:
        second, _ = alert(connection, demo.idle)
        third, _ = alert(connection, demo.old)
    first_page = client.get("/api/alerts", params={"limit": 2}).json()
    assert [item["id"] for item in first_page["items"]] == [third, second]
    rest = client.get("/api/alerts", params={"limit": 2, "cursor": first_page["next_cursor"]}).json()
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == ([demo.alert], None)
    only = client.get("/api/alerts", params={"kpi": "deposits", "status": "open"}).json()
    assert [item["id"] for item in only["items"]] == [demo.alert]


def test_one_alert_carries_its_timeline_and_deliveries(client: TestClient, demo: Demo) -> None:
    document = client.get(f"/api/alerts/{demo.alert}").json()
    assert [(entry["type"], entry["actor"]) for entry in document["timeline"]] == [("opened", "system")]
    (delivery,) = document["deliveries"]
    assert (delivery["contact"], delivery["channel"], delivery["status"], delivery["attempts"]) == (
        "Ops",
        "email",
        "sent",
        1,
    )


def test_acknowledge_then_resolve_record_the_actor_and_a_resolved_alert_cannot_be_acknowledged(
    client: TestClient, demo: Demo, database: Database
) -> None:
    response = client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "alice", "note": "on it"})
    assert (response.status_code, response.json()["acknowledged_by"]) == (200, "alice")
    response = client.post(f"/api/alerts/{demo.alert}/resolve", json={"by": "bob", "reason": "fixed"})
    assert (response.status_code, response.json()["status"]) == (200, "resolved")
    response = client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "alice"})
    assert (response.status_code, response.json()["error"]) == (
        409,
        f"status: alert {demo.alert} is resolved: there is nothing to acknowledge",
    )
    timeline = client.get(f"/api/alerts/{demo.alert}").json()["timeline"]
    assert [(entry["type"], entry["actor"]) for entry in timeline][1:] == [
        ("acknowledged", "alice"),
        ("resolved", "bob"),
    ]
    assert client.post(f"/api/alerts/{demo.alert}/resolve", json={"by": "bob", "extra": 1}).status_code == 422
    for body, status in [({}, 400), ({"by": "  "}, 422)]:  # no one named (400, as always); a blank name
        response = client.post(f"/api/alerts/{demo.alert}/resolve", json=body)
        assert (response.status_code, response.json()["error"][:3]) == (status, "by:")


def test_an_empty_history_range_has_no_items(client: TestClient, demo: Demo) -> None:
    params = {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    response = client.get(f"/api/kpis/{demo.deposits}/history", params=params)
    assert (response.status_code, response.json()) == (200, {"items": []})


def test_the_signed_in_user_is_the_actor_only_when_the_platform_authenticates(
    client: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"X-MS-CLIENT-PRINCIPAL-NAME": "carol@example.com"}
    response = client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "dave"}, headers=headers)
    assert response.json()["acknowledged_by"] == "dave"  # not trusted: anyone could send the header here
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    assert client.get("/api/kpis").status_code == 401
    response = client.post(f"/api/alerts/{demo.alert}/resolve", json={"by": "mallory"}, headers=headers)
    assert (response.status_code, response.json()["resolved_by"]) == (200, "carol@example.com")


def test_run_now_runs_for_real_or_dry_and_answers_404_for_an_unknown_kpi(
    client: TestClient, demo: Demo, database: Database
) -> None:
    assert client.post("/api/kpis/999/run", json={}).status_code == 404
    response = client.post(f"/api/kpis/{demo.deposits}/run", json={"dry_run": False})
    assert response.status_code == 200
    document = response.json()
    assert (document["kpi"], document["status"], document["dry_run"]) == ("Deposits", "succeeded", False)
    assert [metric["key"] for metric in document["metrics"]] == ["k"]
    response = client.post(f"/api/kpis/{demo.deposits}/run", json={"dry_run": "maybe"})
    assert (response.status_code, response.json()["error"].split(":")[0]) == (422, "dry_run")

    with database.engine.connect() as connection:
        executions_before = connection.scalar(select(func.count()).select_from(kpi_executions))
    response = client.post(f"/api/kpis/{demo.deposits}/run", json={"dry_run": True})
    assert response.status_code == 200
    document = response.json()
    assert (document["execution_id"], document["dry_run"], document["status"]) == (None, True, "succeeded")
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(kpi_executions)) == executions_before


def test_the_openapi_document_is_3_1_and_names_every_route(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {path: sorted(item) for path, item in document["paths"].items()} == {
        "/api/kpis": ["get"],
        "/api/kpis/{kpi_id}": ["get"],
        "/api/kpis/{kpi_id}/history": ["get"],
        "/api/kpis/{kpi_id}/run": ["post"],
        "/api/alerts": ["get"],
        "/api/alerts/{alert_id}": ["get"],
        "/api/alerts/{alert_id}/acknowledge": ["post"],
        "/api/alerts/{alert_id}/resolve": ["post"],
        "/api/alerts/{alert_id}/ack": ["get", "post"],
        "/api/silences": ["get", "post"],
        "/api/silences/{silence_id}": ["delete"],
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():  # every error answer is documented as {"error": ...}
            assert {"400", "404", "422"} <= set(operation["responses"]), f"{method} {path}"


def test_reads_change_nothing(client: TestClient, demo: Demo, database: Database) -> None:
    for path in ["/api/kpis", f"/api/kpis/{demo.deposits}", f"/api/alerts/{demo.alert}", "/api/alerts"]:
        assert client.get(path).status_code == 200
    with database.engine.connect() as connection:
        assert len(connection.execute(select(alert_events.c.id)).all()) == 1


def test_text_that_no_database_stores_is_refused_naming_the_field(client: TestClient, demo: Demo) -> None:
    for path, field in [(f"/api/kpis/{demo.deposits}/history", "key"), ("/api/alerts", "kpi")]:
        response = client.get(path, params={field: "a\x00b"})
        assert response.status_code == 422
        assert response.json()["error"].startswith(f"{field}:")
    response = client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "a\x00b", "note": "\x00"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("by:")


def test_an_unexpected_failure_is_logged_and_answered_503_not_raised(
    client: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.db import views

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "kpi_summaries", broken)
    response = client.get("/api/kpis")
    assert (response.status_code, response.json()) == (503, {"error": "server: unexpected error (logged)"})


def test_history_ending_at_the_start_of_time_is_empty_not_an_error(client: TestClient, demo: Demo) -> None:
    response = client.get(f"/api/kpis/{demo.deposits}/history", params={"to": "0001-01-01T01:00:01Z"})
    assert (response.status_code, response.json()) == (200, {"items": []})


def test_a_plain_run_of_an_inactive_kpi_is_a_conflict_and_a_dry_run_still_runs(
    client: TestClient, demo: Demo, database: Database
) -> None:
    with database.engine.begin() as connection:
        connection.execute(kpis.update().where(kpis.c.id == demo.deposits).values(is_active=False))
    response = client.post(f"/api/kpis/{demo.deposits}/run", json={"dry_run": False})
    assert response.status_code == 409
    assert response.json()["error"].startswith("kpi_id: ")
    assert "inactive" in response.json()["error"]
    response = client.post(f"/api/kpis/{demo.deposits}/run", json={"dry_run": True})
    assert (response.status_code, response.json()["dry_run"]) == (200, True)


def test_a_dry_run_that_would_open_an_alert_names_no_alert_id(
    client: TestClient, demo: Demo, database: Database
) -> None:
    spike = make_kpi(
        indicator="Spike", sql_text="SELECT 'k' AS key, 100 AS current_value, 10 AS historical_value"
    )
    with database.engine.begin() as connection:
        spike_id = insert_kpi(connection, spike)
    response = client.post(f"/api/kpis/{spike_id}/run", json={"dry_run": True})
    assert response.status_code == 200
    assert response.json()["alerts"] == [{"id": None, "transition": "opened"}]
    with database.engine.connect() as connection:
        assert (
            connection.scalar(select(func.count()).select_from(alerts).where(alerts.c.kpi_id == spike_id))
            == 0
        )


def test_the_ack_link_acknowledges_once_and_a_resolved_alert_gets_a_clear_409_page(
    client: TestClient, demo: Demo, database: Database
) -> None:
    from shared.domain.ack_token import issue
    from tests.api.conftest import ACK_SECRET

    token = issue(ACK_SECRET, alert_id=demo.alert, contact_id=demo.contact, now=NOW, ttl=timedelta(hours=1))
    link = f"/api/alerts/{demo.alert}/ack"
    first = client.post(link, params={"token": token})
    assert (first.status_code, "Acknowledged: escalation has stopped." in first.text) == (200, True)
    again = client.post(link, params={"token": token})
    assert (again.status_code, "already acknowledged" in again.text) == (200, True)
    assert client.post(f"/api/alerts/{demo.alert}/resolve", json={"by": "bob"}).status_code == 200
    shown = client.get(link, params={"token": token})
    assert (shown.status_code, "nothing to acknowledge" in shown.text, "<form" in shown.text) == (
        200,
        True,
        False,
    )
    refused = client.post(link, params={"token": token})
    assert (refused.status_code, refused.headers["content-type"].split(";")[0]) == (409, "text/html")
    assert "already resolved" in refused.text
    timeline = client.get(f"/api/alerts/{demo.alert}").json()["timeline"]
    assert [(entry["type"], entry["actor"]) for entry in timeline] == [
        ("opened", "system"),
        ("acknowledged", "Ops"),
        ("resolved", "bob"),
    ]
