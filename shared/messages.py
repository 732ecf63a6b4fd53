"""Queue messages: ids only, JSON, validated at the edge. The database holds everything else."""

from __future__ import annotations

import json
import uuid
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.alert import EventRef
from shared.errors import InvalidMessage

KPI_EXECUTIONS = "kpi-executions"
ALERT_EVENTS = "alert-events"


class ExecutionMessage(BaseModel):
    """`kpi-executions`: run this execution."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    execution_id: uuid.UUID


class AlertEventMessage(BaseModel):
    """`alert-events`: dispatch this alert event to the contacts of its escalation level."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    event_id: int
    alert_id: int


_Message = TypeVar("_Message", ExecutionMessage, AlertEventMessage)


def execution_message(execution_id: uuid.UUID) -> str:
    return json.dumps({"execution_id": str(execution_id)})


def alert_event_message(event: EventRef) -> str:
    return json.dumps({"event_id": event.event_id, "alert_id": event.alert_id})


def parse_execution_message(body: bytes, *, queue: str = KPI_EXECUTIONS) -> ExecutionMessage:
    """The message, or `InvalidMessage` saying what is wrong with it."""
    return _parse(ExecutionMessage, body, queue)


def parse_alert_event_message(body: bytes, *, queue: str = ALERT_EVENTS) -> AlertEventMessage:
    """The message, or `InvalidMessage` saying what is wrong with it."""
    return _parse(AlertEventMessage, body, queue)


def _parse(model: type[_Message], body: bytes, queue: str) -> _Message:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(_problem(detail) for detail in error.errors())
        raise InvalidMessage(queue, problems) from None


def _problem(detail: object) -> str:
    if not isinstance(detail, dict):
        return str(detail)
    location = ".".join(str(part) for part in detail.get("loc", ())) or "body"
    return f"{location}: {detail.get('msg')}"


def describe_body(body: bytes) -> str:
    """The message body as text for the record, whatever its encoding."""
    return body.decode("utf-8", errors="replace")
