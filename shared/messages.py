"""Queue messages: ids only, JSON, validated at the edge. The database holds everything else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.alert import EventRef
from shared.errors import InvalidMessage

KPI_EXECUTIONS = "kpi-executions"
ALERT_EVENTS = "alert-events"


#: Most execution ids one `kpi-executions` message may carry (the settings' ExecutionBatchSize is below it).
MAX_EXECUTION_IDS = 64


class ExecutionMessage(BaseModel):
    """`kpi-executions`: run these executions. A batch is `{"execution_id": first, "execution_ids": [...]}`;
    a message of one execution is `{"execution_id": id}`, the format from before batches, still accepted
    (and still what an executor of that version reads from a batch: it runs the first id and the sweeper
    re-sends the rest, so a rolling deploy loses nothing)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    execution_id: uuid.UUID
    execution_ids: tuple[uuid.UUID, ...] | None = Field(None, min_length=1, max_length=MAX_EXECUTION_IDS)

    @property
    def ids(self) -> tuple[uuid.UUID, ...]:
        """Every execution the message names, each once, in order."""
        if self.execution_ids is None:
            return (self.execution_id,)
        return tuple(dict.fromkeys((self.execution_id, *self.execution_ids)))


class AlertEventMessage(BaseModel):
    """`alert-events`: dispatch this alert event to the contacts of its escalation level."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    event_id: int
    alert_id: int


_Message = TypeVar("_Message", ExecutionMessage, AlertEventMessage)


def execution_message(execution_id: uuid.UUID | Sequence[uuid.UUID]) -> str:
    """The message of one execution, or of a batch (ids only: DESIGN section 1)."""
    if isinstance(execution_id, uuid.UUID):
        return json.dumps({"execution_id": str(execution_id)})
    ids = [str(each) for each in execution_id]
    if not ids:
        raise ValueError("a kpi-executions message names at least one execution")
    if len(ids) == 1:
        return json.dumps({"execution_id": ids[0]})
    return json.dumps({"execution_id": ids[0], "execution_ids": ids})


def execution_messages(execution_ids: Sequence[uuid.UUID], batch_size: int) -> list[str]:
    """`execution_ids` packed into messages of at most `batch_size` ids, in order."""
    ids = list(execution_ids)
    return [execution_message(ids[i : i + batch_size]) for i in range(0, len(ids), max(1, batch_size))]


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
