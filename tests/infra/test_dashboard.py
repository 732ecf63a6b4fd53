"""The dashboard module (`infra/bicep/modules/dashboard.bicep`): its resources and API versions, parsed with
pycep; the workbook JSON it loads; and the names its queries use, checked against what the app really emits
(the instruments and custom events `shared/telemetry.py` records, read back through the OpenTelemetry SDK)
and the functions `function_app` really indexes.

Only the templates are checked here: `bicep build` and a what-if need the Bicep CLI and Azure access."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pycep import BicepParser

from shared import telemetry
from shared.domain.health import CheckResult, HealthReport, HealthStatus
from tests.wiring.bindings import indexed_functions

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = REPO_ROOT / "infra" / "bicep" / "modules" / "dashboard.bicep"
WORKBOOK = MODULE.with_name("dashboard.workbook.json")
#: The parameters main.bicep passes, with their types.
MAIN_PASSES = {
    "location": "string",
    "tags": "object",
    "name": "string",
    "applicationInsightsId": "string",
    "logAnalyticsWorkspaceId": "string",
    "functionAppId": "string",
    "functionAppName": "string",
    "alertEmail": "string",
}
#: The transitions the services record (docs/operations.md, Telemetry).
TRANSITIONS = ("opened", "retriggered", "escalated", "acknowledged", "resolved")
WINDOWS = {"PT1M", "PT5M", "PT10M", "PT15M", "PT30M", "PT45M", "PT1H"}

_NAME_TEST = re.compile(
    r'(?<![\w.])(?P<column>name|operation_Name)\s*(?:==\s*"(?P<one>[^"]+)"|in\s*\((?P<many>[^)]*)\))'
)
_DIMENSION = re.compile(r"customDimensions\.(\w+)")


@dataclass(frozen=True)
class Query:
    """One KQL query of the module: where it is, the table it reads and the names it filters on."""

    origin: str
    text: str

    @property
    def table(self) -> str:
        return self.text.split("|", 1)[0].strip()

    def names(self, column: str) -> set[str]:
        found: set[str] = set()
        for match in _NAME_TEST.finditer(self.text):
            if match["column"] == column:
                values = [match["one"]] if match["one"] else re.findall(r'"([^"]+)"', match["many"])
                found.update(values)
        return found

    @property
    def dimensions(self) -> set[str]:
        return set(_DIMENSION.findall(self.text))


@dataclass(frozen=True)
class Emitted:
    """Metric names and custom event names the app records, each with the attribute names it carries."""

    metrics: dict[str, set[str]]
    events: dict[str, set[str]]


@contextmanager
def recorded_events() -> Iterator[InMemoryLogRecordExporter]:
    """The records of the `mgrid` loggers, exported as the Azure Monitor distro's logging handler does."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger(telemetry.LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield exporter
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        provider.shutdown()


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's declaration, inside its condition when it has one."""
    config = dict(resource["config"])
    return dict(config["config"]) if "condition" in config else config


def query_items(workbook: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every query item of the workbook, groups included."""
    pending = list(workbook["items"])
    while pending:
        item = pending.pop(0)
        if item["type"] == 12:
            pending.extend(item["content"]["items"])
        elif item["type"] == 3:
            yield item


def mentions(value: Any, symbol: str) -> bool:
    """Whether a parsed expression refers to `symbol` (a parameter, variable or resource)."""
    return re.search(rf'"{re.escape(symbol)}[".]', json.dumps(value)) is not None


def metric_attributes(reader: InMemoryMetricReader) -> dict[str, set[str]]:
    """The attribute names of each instrument's points."""
    data = reader.get_metrics_data()
    found: dict[str, set[str]] = {}
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                attributes = found.setdefault(metric.name, set())
                for point in metric.data.data_points:
                    attributes.update(point.attributes or {})
    return found


def event_attributes(exporter: InMemoryLogRecordExporter) -> dict[str, set[str]]:
    """The attribute names of each custom event, which become its custom dimensions."""
    found: dict[str, set[str]] = {}
    for log in exporter.get_finished_logs():
        attributes = dict(log.log_record.attributes or {})
        if telemetry.CUSTOM_EVENT_ATTRIBUTE in attributes:
            name = str(attributes.pop(telemetry.CUSTOM_EVENT_ATTRIBUTE))
            found.setdefault(name, set()).update(attributes)
    return found


@pytest.fixture(scope="module")
def module() -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=MODULE))


@pytest.fixture(scope="module")
def resources(module: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(module["resources"])


@pytest.fixture(scope="module")
def workbook() -> dict[str, Any]:
    return dict(json.loads(WORKBOOK.read_text()))


@pytest.fixture(scope="module")
def queries(resources: dict[str, dict[str, Any]], workbook: dict[str, Any]) -> list[Query]:
    found = [
        Query(f"workbook item {item['name']}", item["content"]["query"]) for item in query_items(workbook)
    ]
    for symbol, resource in resources.items():
        if resource["type"] == "Microsoft.Insights/scheduledQueryRules":
            for condition in body(resource)["properties"]["criteria"]["allOf"]:
                found.append(Query(f"rule {symbol}", condition["query"]))
    return found


@pytest.fixture(scope="module")
def emitted() -> Emitted:
    """Every record function called once, through an in-memory meter and the distro's logging handler."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    with recorded_events() as exporter, telemetry.recording_to(meters):
        telemetry.record_execution(kpi="Deposits", outcome="succeeded", duration_ms=120)
        telemetry.record_deviation(kpi="Deposits", metric_key="card", deviation_percent=-5)
        for transition in TRANSITIONS:
            telemetry.record_alert_transition(
                transition=transition, severity="high", alert_id=7, kpi="Deposits", metric_key="card"
            )
        telemetry.record_notification(channel="email", outcome="sent")
        check = CheckResult(name="database", status=HealthStatus.HEALTHY, duration_ms=3)
        telemetry.record_health(HealthReport(checks=(check,)))
        telemetry.record_cleanup({"kpi_executions": 2})
    found = Emitted(metrics=metric_attributes(reader), events=event_attributes(exporter))
    meters.shutdown()
    return found


@pytest.fixture(scope="module")
def functions() -> dict[str, dict[str, Any]]:
    """The function.json of every function the app indexes, by name."""
    return {name: json.loads(f.get_function_json()) for name, f in indexed_functions().items()}


@pytest.fixture(scope="module")
def poison_handlers(functions: dict[str, dict[str, Any]]) -> set[str]:
    return {
        name
        for name, definition in functions.items()
        for binding in definition["bindings"]
        if binding["type"] == "queueTrigger" and binding["queueName"].endswith("-poison")
    }


def test_the_module_takes_the_parameters_main_passes_and_defaults_the_rest(module: dict[str, Any]) -> None:
    parameters = module["parameters"]
    assert {name: parameters[name]["type"] for name in MAIN_PASSES} == MAIN_PASSES
    assert parameters["alertEmail"]["default"] == ""
    own = set(parameters) - set(MAIN_PASSES)
    assert own, "the module's own tuning parameters"
    assert all("default" in parameters[name] for name in own)
    assert parameters["noExecutionsMinutes"]["default"] == 15


def test_every_resource_is_a_plain_declaration_with_a_pinned_api_version(
    resources: dict[str, dict[str, Any]],
) -> None:
    declared = {symbol: (r["type"], r["api_version"], r["existing"]) for symbol, r in resources.items()}
    assert declared == {
        "functionApp": ("Microsoft.Web/sites", "2024-04-01", True),
        "workbook": ("Microsoft.Insights/workbooks", "2023-06-01", False),
        "actionGroup": ("Microsoft.Insights/actionGroups", "2023-01-01", False),
        "healthTest": ("Microsoft.Insights/webtests", "2022-06-15", False),
        "healthAlert": ("Microsoft.Insights/metricAlerts", "2018-03-01", False),
        "noExecutionsAlert": ("Microsoft.Insights/scheduledQueryRules", "2023-12-01", False),
        "poisonAlert": ("Microsoft.Insights/scheduledQueryRules", "2023-12-01", False),
    }
    text = MODULE.read_text()
    assert not re.search(r"^\s*module\s", text, re.MULTILINE)
    assert "br:" not in text
    assert "br/" not in text


def test_the_workbook_is_a_shared_workbook_of_application_insights_built_from_its_json(
    resources: dict[str, dict[str, Any]],
) -> None:
    workbook = resources["workbook"]
    declaration = body(workbook)
    assert declaration["kind"] == "shared"
    properties = declaration["properties"]
    assert properties["category"] == "workbook"
    assert properties["sourceId"] == "applicationInsightsId"
    assert properties["version"] == "Notebook/1.0"
    serialized = properties["serializedData"]["function"]
    assert serialized["type"] == "string"
    merged = serialized["parameters"]["value_to_convert"]["function"]
    assert merged["type"] == "union"
    loaded = merged["parameters"]["arg_1"]["function"]
    assert loaded["type"] == "load_json_content"
    assert MODULE.parent / loaded["parameters"]["file_path"] == WORKBOOK
    assert merged["parameters"]["arg_2"] == {"fallbackResourceIds": ["applicationInsightsId"]}


def test_the_workbook_json_has_a_time_range_and_a_query_in_every_query_item(workbook: dict[str, Any]) -> None:
    assert workbook["version"] == "Notebook/1.0"
    assert workbook["items"]
    (parameters,) = [item for item in workbook["items"] if item["type"] == 9]
    (time_range,) = parameters["content"]["parameters"]
    assert (time_range["name"], time_range["type"], time_range["isRequired"]) == ("TimeRange", 4, True)
    items = list(query_items(workbook))
    assert len(items) >= 10
    for item in items:
        content = item["content"]
        assert content["query"].strip(), item["name"]
        assert content["timeContextFromParameter"] == "TimeRange", item["name"]
        assert (content["queryType"], content["resourceType"]) == (0, "microsoft.insights/components")
    names = [item["name"] for item in workbook["items"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("section", "table", "needle"),
    [
        ("executions by outcome", "customMetrics", '"mgrid.kpi.executions"'),
        ("execution duration", "customMetrics", '"mgrid.kpi.execution.duration"'),
        ("executor duration percentiles", "requests", '"kpi_executor"'),
        ("alert transitions", "customEvents", '"AlertOpened"'),
        ("alert transitions by severity", "customMetrics", '"mgrid.alerts.transitions"'),
        ("notifications by channel and outcome", "customMetrics", '"mgrid.notifications"'),
        ("health status", "customMetrics", '"mgrid.health.status"'),
        ("health endpoint probes", "availabilityResults", "success == false"),
        ("function failures", "requests", "success == false"),
    ],
)
def test_the_workbook_has_a_query_for_each_section(
    workbook: dict[str, Any], section: str, table: str, needle: str
) -> None:
    texts = [Query(item["name"], item["content"]["query"]) for item in query_items(workbook)]
    assert any(query.table == table and needle in query.text for query in texts), section


def test_duration_queries_use_the_histogram_aggregates_and_percentiles_come_from_requests(
    queries: list[Query],
) -> None:
    duration = [query for query in queries if "mgrid.kpi.execution.duration" in query.names("name")]
    assert duration
    for query in duration:
        assert "valueSum" in query.text
        assert "valueCount" in query.text
        assert "valueMax" in query.text
        assert "percentile" not in query.text, query.origin
    percentiles = [query for query in queries if "percentile(" in query.text]
    assert percentiles
    assert all(query.table == "requests" for query in percentiles)


def test_every_metric_and_event_name_in_the_queries_is_one_the_app_emits(
    queries: list[Query], emitted: Emitted
) -> None:
    used_metrics = {n for q in queries if q.table == "customMetrics" for n in q.names("name")}
    used_events = {n for q in queries if q.table == "customEvents" for n in q.names("name")}
    assert used_metrics <= set(emitted.metrics)
    assert used_events <= set(emitted.events)
    assert {"mgrid.kpi.executions", "mgrid.health.status"} <= used_metrics
    assert used_events == {"Alert" + transition.capitalize() for transition in TRANSITIONS}


def test_every_custom_dimension_in_the_queries_is_an_attribute_of_what_they_read(
    queries: list[Query], emitted: Emitted
) -> None:
    read = {"customMetrics": emitted.metrics, "customEvents": emitted.events}
    checked = 0
    for query in queries:
        if query.dimensions:
            names = query.names("name")
            assert names, query.origin
            attributes = set().union(*(read[query.table][name] for name in names))
            assert query.dimensions <= attributes, query.origin
            checked += 1
    assert checked >= 8


def test_every_function_name_in_the_queries_is_a_function_the_app_indexes(
    queries: list[Query], functions: dict[str, dict[str, Any]]
) -> None:
    used = {name for query in queries for name in query.names("operation_Name")}
    assert used
    assert used <= set(functions)


def test_the_poison_rule_watches_exactly_the_poison_queue_handlers(
    resources: dict[str, dict[str, Any]], poison_handlers: set[str]
) -> None:
    assert poison_handlers == {"kpi_executions_poison", "alert_events_poison"}
    (condition,) = body(resources["poisonAlert"])["properties"]["criteria"]["allOf"]
    query = Query("poisonAlert", condition["query"])
    assert query.table == "requests"
    assert query.names("operation_Name") == poison_handlers
    assert (condition["operator"], condition["threshold"]) == ("GreaterThan", 0)
    assert condition["metricMeasureColumn"] in query.text
    assert [d["name"] for d in condition["dimensions"]] == ["operation_Name"]


def test_the_no_executions_rule_fires_on_no_execution_rows_in_the_configured_window(
    resources: dict[str, dict[str, Any]],
) -> None:
    properties = body(resources["noExecutionsAlert"])["properties"]
    assert properties["windowSize"] == "PT${noExecutionsMinutes}M"
    (condition,) = properties["criteria"]["allOf"]
    query = Query("noExecutionsAlert", condition["query"])
    assert (query.table, query.names("name")) == ("customMetrics", {"mgrid.kpi.executions"})
    assert "summarize" not in query.text, "rows are counted by the rule, one per export with executions"
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == (
        "Count",
        "LessThan",
        1,
    )


def test_the_health_rule_probes_the_real_health_route_and_alerts_on_availability(
    resources: dict[str, dict[str, Any]], functions: dict[str, dict[str, Any]]
) -> None:
    (trigger,) = [b for b in functions["health"]["bindings"] if b["type"] == "httpTrigger"]
    prefix = json.loads((REPO_ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    test = body(resources["healthTest"])
    assert test["kind"] == "standard"
    assert mentions(test["tags"], "hiddenLink")
    properties = test["properties"]
    assert properties["Kind"] == "standard"
    assert properties["Enabled"] is True
    assert properties["SyntheticMonitorId"] == test["name"] == "healthTestName"
    request = properties["Request"]
    assert request["HttpVerb"] == "GET"
    assert (
        request["RequestUrl"]
        == f"https://${{functionApp.properties.defaultHostName}}/{prefix}/{trigger['route']}"
    )
    assert properties["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    alert = body(resources["healthAlert"])["properties"]
    criteria = alert["criteria"]
    assert criteria["'odata.type'"] == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    assert mentions(criteria["webTestId"], "healthTest")
    assert criteria["componentId"] == "applicationInsightsId"
    assert mentions(alert["scopes"], "healthTest")
    assert "applicationInsightsId" in alert["scopes"]


def test_the_function_app_is_looked_up_by_the_name_and_id_main_passes(
    resources: dict[str, dict[str, Any]],
) -> None:
    declaration = body(resources["functionApp"])
    assert declaration["name"] == "functionAppName"
    assert mentions(declaration["scope"], "functionAppId")


@pytest.mark.parametrize(
    ("symbol", "severity"), [("healthAlert", 1), ("noExecutionsAlert", 1), ("poisonAlert", 2)]
)
def test_every_rule_is_enabled_with_a_severity_a_schedule_and_auto_mitigation(
    resources: dict[str, dict[str, Any]], symbol: str, severity: int
) -> None:
    properties = body(resources[symbol])["properties"]
    assert (properties["severity"], properties["enabled"], properties["autoMitigate"]) == (
        severity,
        True,
        True,
    )
    assert properties["evaluationFrequency"] in WINDOWS
    assert properties["windowSize"] in WINDOWS or properties["windowSize"] == "PT${noExecutionsMinutes}M"
    assert properties["description"]
    if resources[symbol]["type"] == "Microsoft.Insights/scheduledQueryRules":
        assert body(resources[symbol])["kind"] == "LogAlert"
        assert properties["scopes"] == ["applicationInsightsId"]
        assert properties["actions"]["actionGroups"] == "actionGroupIds"
    else:
        assert properties["actions"] == "metricAlertActions"


def test_the_action_group_exists_only_with_an_email_and_the_rules_use_it_only_then(
    module: dict[str, Any],
) -> None:
    group = module["resources"]["actionGroup"]
    condition = group["config"]["condition"]
    assert condition["operator"]["type"] == "not"
    assert mentions(condition, "alertEmail")
    (receiver,) = body(group)["properties"]["emailReceivers"]
    assert receiver["emailAddress"] == "alertEmail"
    assert len(body(group)["properties"]["groupShortName"]) <= 12
    for variable in ("actionGroupIds", "metricAlertActions"):
        choice = module["variables"][variable]["value"]["operator"]
        assert choice["type"] == "conditional"
        assert mentions(choice["operands"]["condition"], "alertEmail")
        assert choice["operands"]["true_value"] == []
        assert mentions(choice["operands"]["false_value"], "actionGroup")
