"""`Notifications__*`: the channels with their switches, the mail server, SMS, signing, links in notices
and delivery retries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from shared.settings.section import Section, empty_is_none

SmtpSecurity = Literal["none", "starttls", "tls"]
SmsMode = Literal["acs", "gateway"]


def _switch(channel: str) -> Any:
    """The `Enabled` switch of a notification channel (default on)."""
    return Field(
        True,
        alias="Enabled",
        description=f"Send {channel}; while false its deliveries are recorded as skipped, never failed.",
    )


class EmailSettings(Section):
    """`Notifications__Email__*`: the email channel's switch (the server is `Notifications__Smtp__*`)."""

    enabled: bool = _switch("email")


class SmtpSettings(Section):
    """`Notifications__Smtp__*`: the mail server for email (and for SMS through an email gateway)."""

    host: str | None = Field(None, alias="Host", description="SMTP server; email is not sent while unset.")
    port: int = Field(587, ge=1, le=65535, alias="Port", description="SMTP port (587 STARTTLS, 465 TLS).")
    username: str | None = Field(None, alias="Username", description="SMTP user; no login while unset.")
    password: str | None = Field(
        None,
        alias="Password",
        description="SMTP password.",
        json_schema_extra={"secret": True, "mask": "whole"},
    )
    from_address: str = Field(
        "monitoringgrid@localhost", alias="From", description="Sender address of alert email."
    )
    security: SmtpSecurity = Field(
        "starttls", alias="Security", description="Transport security: none, starttls or tls (implicit)."
    )
    timeout_seconds: int = Field(
        30, ge=1, le=300, alias="TimeoutSeconds", description="Bound on one SMTP conversation."
    )

    _unset = field_validator("host", "username", "password", mode="before")(empty_is_none)


class SmsSettings(Section):
    """`Notifications__Sms__*`: how SMS leave (Azure Communication Services or an email-to-SMS gateway)."""

    enabled: bool = _switch("SMS")
    mode: SmsMode = Field(
        "acs", alias="Mode", description="acs (Azure Communication Services) or gateway (email-to-SMS)."
    )
    gateway: str | None = Field(
        None, alias="Gateway", description="Email-to-SMS gateway domain: SMS go to <digits>@<gateway>."
    )

    _unset = field_validator("gateway", mode="before")(empty_is_none)


class AcsSettings(Section):
    """`Notifications__Acs__*`: Azure Communication Services for SMS."""

    connection_string: str | None = Field(
        None,
        alias="ConnectionString",
        description="ACS connection string (endpoint=...;accesskey=...); a Key Vault reference in Azure.",
        json_schema_extra={"secret": True},
    )
    from_number: str | None = Field(
        None, alias="From", description="ACS phone number SMS are sent from (E.164, e.g. +18005550100)."
    )

    _unset = field_validator("connection_string", "from_number", mode="before")(empty_is_none)


class TeamsSettings(Section):
    """`Notifications__Teams__*`: the Microsoft Teams channel's switch."""

    enabled: bool = _switch("Microsoft Teams cards")


class SlackSettings(Section):
    """`Notifications__Slack__*`: the Slack channel's switch."""

    enabled: bool = _switch("Slack messages")


class WebhookSettings(Section):
    """`Notifications__Webhook__*`: the generic webhook channel's switch."""

    enabled: bool = _switch("generic webhook calls")


class NotificationsSettings(Section):
    """`Notifications__*`: channels, signing and delivery retries."""

    email: EmailSettings = Field(default_factory=EmailSettings, alias="Email")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, alias="Smtp")
    sms: SmsSettings = Field(default_factory=SmsSettings, alias="Sms")
    teams: TeamsSettings = Field(default_factory=TeamsSettings, alias="Teams")
    slack: SlackSettings = Field(default_factory=SlackSettings, alias="Slack")
    webhook: WebhookSettings = Field(default_factory=WebhookSettings, alias="Webhook")
    acs: AcsSettings = Field(default_factory=AcsSettings, alias="Acs")
    webhook_secret: str | None = Field(
        None,
        alias="WebhookSecret",
        description="HMAC-SHA256 key signing generic webhook bodies (X-MonitoringGrid-Signature).",
        json_schema_extra={"secret": True, "mask": "whole"},
    )
    admin_contact: str | None = Field(
        None,
        alias="AdminContact",
        description="Name of the contact told about lost alert events and the service's own health alerts.",
    )
    allow_http_loopback: bool = Field(
        False,
        alias="AllowHttpLoopback",
        description="Allow Teams, Slack and webhook targets on loopback, over plain http too (local runs).",
    )
    allow_private_targets: bool = Field(
        False,
        alias="AllowPrivateTargets",
        description="Allow webhook targets resolving to private or link-local addresses (never metadata).",
    )
    http_timeout_seconds: int = Field(
        10, ge=1, le=120, alias="HttpTimeoutSeconds", description="Bound on one Teams, Slack or webhook call."
    )
    send_attempts: int = Field(
        3,
        ge=1,
        le=10,
        alias="SendAttempts",
        description="Tries of one delivery within an invocation before it is left to alert_processor.",
    )
    max_delivery_attempts: int = Field(
        9,
        ge=1,
        le=100,
        alias="MaxDeliveryAttempts",
        description="Tries of one delivery in all; after the last it is marked failed with its error.",
    )
    retry_backoff_seconds: int = Field(
        60,
        ge=1,
        le=86400,
        alias="RetryBackoffSeconds",
        description="First wait before alert_processor retries a delivery; doubles per round.",
    )

    public_base_url: str | None = Field(
        None,
        alias="PublicBaseUrl",
        description="Public address of the app (https://host) for links in notices; unset: no links.",
    )
    ack_token_secret: str | None = Field(
        None,
        alias="AckTokenSecret",
        description="HMAC-SHA256 key signing one-click acknowledgement links; unset: no ack links.",
        json_schema_extra={"secret": True},
    )
    ack_token_ttl_hours: int = Field(
        72, ge=1, le=720, alias="AckTokenTtlHours", description="Hours an acknowledgement link stays valid."
    )

    _unset = field_validator(
        "webhook_secret", "admin_contact", "public_base_url", "ack_token_secret", mode="before"
    )(empty_is_none)

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL, such as https://mgrid.example.com")
        return url.rstrip("/") if url is not None else None
