"""Notices carry `{AlertUrl}` and a per-recipient `{AckUrl}` when the service has a public address and an
ack token secret; without them the placeholders read n/a and no link is sent."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared.domain.ack_token import verify
from shared.domain.notification import Channel
from shared.notify.email import html_text, plain_text
from shared.notify.slack import slack_message
from shared.notify.teams import adaptive_card
from shared.services.alerts.notice_links import links_for
from tests.conftest import Database
from tests.contract.test_escalation import build, open_alert, seed
from tests.factories import NOW, insert_kpi, make_kpi


def test_each_recipient_gets_their_own_signed_ack_link_and_the_alert_link(database: Database) -> None:
    service = build(
        database,
        Notifications__PublicBaseUrl="https://mgrid.example.com/",
        Notifications__AckTokenSecret="k",
        Notifications__AckTokenTtlHours="2",
    )
    setup = seed(service)
    event = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(event.event_id)
    notices = dict(service.senders[Channel.EMAIL].sent)
    ops, dev = notices["ops@example.com"], notices["dev@example.com"]
    assert ops.alert_url == f"https://mgrid.example.com/api/dashboard?alert={event.alert_id}"
    assert ops.ack_url != dev.ack_url
    for notice, contact in [(ops, "Ops"), (dev, "Dev")]:
        assert notice.ack_url is not None
        token = parse_qs(urlsplit(notice.ack_url).query)["token"][0]
        grant = verify("k", token, alert_id=event.alert_id, now=NOW)
        assert grant.contact_id == setup.contacts[contact]
        assert (grant.expires_at - NOW).total_seconds() == 7200
        assert f"Acknowledge: {notice.ack_url}" in plain_text(notice)
        assert "Acknowledge</a>" in html_text(notice)
        assert adaptive_card(notice)["actions"][1]["url"] == notice.ack_url
        buttons = [block for block in slack_message(notice)["blocks"] if block["type"] == "actions"]
        assert buttons[0]["elements"][1]["url"] == notice.ack_url


def test_templates_can_place_the_links_and_without_a_public_address_they_read_n_a(database: Database) -> None:
    service = build(database)
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(description_template="See {AlertUrl} or ack {AckUrl}"))
        from tests.factories import insert_contact

        insert_contact(connection, "Ops", kpi_id=kpi_id, email="ops@example.com")
    event = open_alert(service, kpi_id)
    service.dispatcher.dispatch(event.event_id)
    ((_, notice),) = service.senders[Channel.EMAIL].sent
    assert notice.body == "See n/a or ack n/a"
    assert (notice.alert_url, notice.ack_url) == (None, None)
    assert "Acknowledge" not in plain_text(notice)


def test_without_a_secret_there_is_an_alert_link_but_no_ack_link() -> None:
    from shared.settings import Settings

    settings = Settings.load(Notifications={"PublicBaseUrl": "http://localhost:7071"}).notifications
    links = links_for(settings, alert_id=5, contact_id=1, now=NOW)
    assert (links.alert_url, links.ack_url) == ("http://localhost:7071/api/dashboard?alert=5", None)


def test_behind_app_service_authentication_the_ack_link_signs_in_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.settings import Settings

    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    settings = Settings.load(Notifications={"PublicBaseUrl": "https://m.example", "AckTokenSecret": "k"})
    links = links_for(settings.notifications, alert_id=5, contact_id=1, now=NOW)
    assert links.ack_url is not None
    assert links.ack_url.startswith(
        "https://m.example/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Falerts%2F5%2Fack%3Ftoken%3D5.1."
    )


def test_teams_and_slack_deliveries_carry_their_contacts_own_links(database: Database) -> None:
    from tests.factories import insert_contact

    service = build(
        database, Notifications__PublicBaseUrl="https://mgrid.example.com", Notifications__AckTokenSecret="k"
    )
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
        teams = insert_contact(connection, "T", kpi_id=kpi_id, teams_webhook="https://t.example.com/hook")
        slack = insert_contact(connection, "S", kpi_id=kpi_id, slack_webhook="https://hooks.slack.com/x")
    event = open_alert(service, kpi_id)
    service.dispatcher.dispatch(event.event_id)
    ((_, card_notice),) = service.senders[Channel.TEAMS].sent
    ((_, slack_notice),) = service.senders[Channel.SLACK].sent
    for notice, contact_id in [(card_notice, teams), (slack_notice, slack)]:
        assert notice.alert_url == f"https://mgrid.example.com/api/dashboard?alert={event.alert_id}"
        assert notice.ack_url is not None
        token = parse_qs(urlsplit(notice.ack_url).query)["token"][0]
        assert verify("k", token, alert_id=event.alert_id, now=NOW).contact_id == contact_id
    assert [action["url"] for action in adaptive_card(card_notice)["actions"]] == [
        card_notice.alert_url,
        card_notice.ack_url,
    ]
    (buttons,) = [block for block in slack_message(slack_notice)["blocks"] if block["type"] == "actions"]
    assert [button["url"] for button in buttons["elements"]] == [slack_notice.alert_url, slack_notice.ack_url]
