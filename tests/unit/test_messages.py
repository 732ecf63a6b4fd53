"""`kpi-executions` messages: ids only, one execution in the format from before batches, or a batch."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.errors import InvalidMessage
from shared.messages import MAX_EXECUTION_IDS, execution_message, execution_messages, parse_execution_message

IDS = [uuid.UUID(int=n) for n in range(1, 6)]


def test_one_execution_keeps_the_format_from_before_batches() -> None:
    body = execution_message(IDS[0])
    assert json.loads(body) == {"execution_id": str(IDS[0])}
    assert execution_message(IDS[:1]) == body
    assert parse_execution_message(body.encode()).ids == (IDS[0],)


def test_a_batch_names_its_first_id_where_an_executor_from_before_batches_reads_it() -> None:
    body = json.loads(execution_message(IDS))
    assert body == {"execution_id": str(IDS[0]), "execution_ids": [str(n) for n in IDS]}
    assert parse_execution_message(json.dumps(body).encode()).ids == tuple(IDS)


def test_repeated_ids_run_once() -> None:
    body = json.dumps({"execution_id": str(IDS[1]), "execution_ids": [str(IDS[0]), str(IDS[1]), str(IDS[0])]})
    assert parse_execution_message(body.encode()).ids == (IDS[1], IDS[0])


@pytest.mark.parametrize(
    "ids",
    [[], ["nope"], [str(uuid.UUID(int=n)) for n in range(MAX_EXECUTION_IDS + 1)]],
)
def test_an_empty_malformed_or_oversized_batch_is_invalid(ids: list[str]) -> None:
    with pytest.raises(InvalidMessage, match="execution_ids"):
        parse_execution_message(json.dumps({"execution_id": str(IDS[0]), "execution_ids": ids}).encode())


def test_ids_are_packed_into_messages_of_at_most_the_batch_size() -> None:
    packed = [parse_execution_message(body.encode()).ids for body in execution_messages(IDS, 2)]
    assert packed == [tuple(IDS[0:2]), tuple(IDS[2:4]), (IDS[4],)]
