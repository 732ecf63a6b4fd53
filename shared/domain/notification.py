"""Notifications: one delivery of one alert event to one contact through one channel."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    TEAMS = "teams"
    SLACK = "slack"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  #: never tried: the channel is switched off or not configured
    DROPPED = "dropped"  #: never tried: the alert was acknowledged or resolved before its turn
