"""Contacts: the people (or channels) an alert is sent to, and at which escalation level."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    name: str
    email: str | None = None
    phone: str | None = None
    teams_webhook: str | None = None
    slack_webhook: str | None = None
    webhook_url: str | None = None
    is_active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactLink:
    """A contact of a KPI, told at `level` (0 first; higher levels as an unacknowledged alert escalates)."""

    name: str
    level: int = 0
