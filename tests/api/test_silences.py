"""`/api/silences` on SQLite and PostgreSQL: add (the fields of `mgrid silences add`), list, end; errors name
the field; the actor is the signed-in user when the platform says so."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.seed import Demo


def test_a_silence_is_added_listed_and_ended(client: TestClient, demo: Demo) -> None:
    added = client.post(
        "/api/silences", json={"kpi": "Deposits", "for": "2h", "by": "alice", "reason": "deploy"}
    )
    assert added.status_code == 201
    silence = added.json()
    assert (silence["kpi"], silence["by"], silence["active"], silence["source"]) == (
        "Deposits",
        "alice",
        True,
        "api",
    )
    assert [item["id"] for item in client.get("/api/silences").json()["items"]] == [silence["id"]]
    ended = client.delete(f"/api/silences/{silence['id']}", params={"by": "bob"})
    assert (ended.status_code, ended.json()["active"], ended.json()["expired_by"]) == (200, False, "bob")
    assert client.get("/api/silences").json()["items"] == []
    assert [item["id"] for item in client.get("/api/silences", params={"all": "true"}).json()["items"]] == [
        silence["id"]
    ]


def test_a_weekly_silence_keeps_its_window(client: TestClient, demo: Demo) -> None:
    body = {
        "owner": "Payments",
        "weekly": "sat,sun",
        "between": "22:00-02:00",
        "timezone": "Europe/London",
        "by": "alice",
        "reason": "batch",
    }
    silence = client.post("/api/silences", json=body).json()
    assert silence["weekly"] == {"days": "sat,sun", "between": "22:00-02:00", "timezone": "Europe/London"}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"kpi": "Nope", "for": "2h", "by": "a", "reason": "r"}, 422, "kpi: no KPI has the indicator 'Nope'"),
        (
            {"kpi": "Deposits", "for": "2h", "until": "2030-01-01T00:00Z", "by": "a", "reason": "r"},
            422,
            "until:",
        ),
        ({"kpi": "Deposits", "for": "soon", "by": "a", "reason": "r"}, 422, "for:"),
        ({"kpi": "Deposits", "for": "2h", "reason": "r"}, 422, "by: must not be empty"),
        ({"kpi": "Deposits", "for": "2h", "by": "a"}, 422, "reason:"),
        ({"kpi": "Deposits", "for": "2h", "by": "a", "reason": "r", "color": "red"}, 422, "color:"),
    ],
)
def test_a_wrong_silence_is_refused_naming_the_field(
    client: TestClient, demo: Demo, body: dict[str, str], status: int, error: str
) -> None:
    response = client.post("/api/silences", json=body)
    assert response.status_code == status
    assert response.json()["error"].startswith(error)


def test_ending_needs_a_known_silence_and_someone_to_end_it(
    client: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.delete("/api/silences/999", params={"by": "a"}).status_code == 404
    body = {"kpi": "Deposits", "for": "1h", "by": "a", "reason": "r"}
    silence_id = client.post("/api/silences", json=body).json()["id"]
    response = client.delete(f"/api/silences/{silence_id}")
    assert (response.status_code, response.json()["error"][:3]) == (400, "by:")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    headers = {"X-MS-CLIENT-PRINCIPAL-NAME": "carol@example.com"}
    response = client.delete(f"/api/silences/{silence_id}", headers=headers)
    assert (response.status_code, response.json()["expired_by"]) == (200, "carol@example.com")


def test_a_signed_in_user_adding_a_silence_is_its_author_whatever_by_says(
    client: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"kpi": "Deposits", "for": "1h", "by": "mallory", "reason": "r"}
    headers = {"X-MS-CLIENT-PRINCIPAL-NAME": "carol@example.com"}
    assert (
        client.post("/api/silences", json=body, headers=headers).json()["by"] == "mallory"
    )  # header not trusted
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    added = client.post("/api/silences", json={**body, "by": None}, headers=headers)
    assert (added.status_code, added.json()["by"]) == (201, "carol@example.com")
    added = client.post("/api/silences", json=body, headers=headers)
    assert (added.status_code, added.json()["by"]) == (201, "carol@example.com")
