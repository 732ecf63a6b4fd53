"""Acceptance: schemathesis drives every operation of `GET /api/openapi.json` on a running devhost (the real
`function_app`, real HTTP, the function key): no 5xx for any generated input, and every response conforms to
the document (status code, content type, body schema).

Each operation gets schema-valid input (positive mode) and schema-invalid input (negative mode: wrong
types, values out of range, missing required fields), which must be refused with a 4xx `{"error": ...}`
and never answered 5xx.

Schemathesis's pytest plugin does not run under pytest 9, so the test walks the operations itself and runs
Hypothesis on each operation's case strategy (the same checks `call_and_validate` applies)."""

from __future__ import annotations

import itertools
import os

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.seed import Demo
from tests.api.served import Served, served

__all__ = ["served"]
#: Operations whose schema-valid input may still be refused with 400 or 422 for reasons no schema can state:
#: no actor named (the signed-in user stands in when there is one), a KPI or owner that does not exist, a
#: time zone unknown to the IANA database, a duration of zero. Every other check still applies to them.
DEPENDS_ON_DATA = {
    "POST /api/alerts/{alert_id}/acknowledge",
    "POST /api/alerts/{alert_id}/resolve",
    "POST /api/silences",
    "DELETE /api/silences/{silence_id}",
}
EXAMPLES = int(os.environ.get("MGRID_SCHEMATHESIS_EXAMPLES", "30"))


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_every_operation_answers_without_5xx_and_as_documented(served: Served, demo: Demo) -> None:
    headers = {"x-functions-key": served.key}
    schema = schemathesis.openapi.from_url(f"{served.base}/api/openapi.json", headers=headers, timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13  # DESIGN section 9: 11 paths, 13 operations
    failures: dict[str, str] = {}
    for operation, mode in itertools.product(operations, GenerationMode):

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            excluded = [positive_data_acceptance] if case.operation.label in DEPENDS_ON_DATA else []
            case.call_and_validate(headers=headers, timeout=30, excluded_checks=excluded)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            if mode is not GenerationMode.NEGATIVE:
                raise
            # An operation without parameters or body (GET /api/kpis) has no invalid input to send.
        except (Exception, FailureGroup) as error:  # every operation is checked; failures reported together
            failures[f"{operation.label} ({mode.value})"] = f"{type(error).__name__}: {error}"[:2000]
    assert failures == {}
