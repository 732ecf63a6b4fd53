"""The entries of a KPI definitions file as pydantic models (used by `shared.definitions`).

Each model forbids unknown fields, is strict about types (no "5" for 5, no "yes" for true) and has the
defaults of DESIGN section 9; ranges are those the database CHECKs enforce. Checks that need the rest of the
world (configured sources, known contacts) read them from the validation context, a `KnownNames`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails

from shared.domain.ncrontab import CronExpression, InvalidCronExpression
from shared.domain.sql_text import procedure_problems, query_problems
from shared.domain.template import template_problems

INT_MAX = 2**31 - 1  # INTEGER columns
SMALLINT_MAX = 2**15 - 1  # SMALLINT columns
# Keys ZoneInfo may resolve from the host's own files that are not IANA zones.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# How pydantic error types read in a problem list.
_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "literal_error": "must be {expected}",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class KnownNames:
    """The validation context: configured source names (lowercase), contact names, KPI indicators and owners
    (case-folded; the file's and the database's)."""

    sources: frozenset[str]
    contacts: frozenset[str]
    indicators: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()


def _known(info: ValidationInfo) -> KnownNames:
    if not isinstance(info.context, KnownNames):
        raise TypeError("validate definitions with context=KnownNames(...)")
    return info.context


def known_names(info: ValidationInfo) -> KnownNames:
    """The validation context, for validators of sections defined in other modules."""
    return _known(info)


def _fail_with(problems: Sequence[str]) -> None:
    """Report the problems of one field as one error, a problem per line."""
    if problems:
        raise ValueError("\n".join(problems))


def _trimmed(text: str) -> str:
    _fail_with(["must not start or end with whitespace"] if text != text.strip() else [])
    return text


def _email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    valid = bool(local) and "." in domain.strip(".") and not any(char.isspace() for char in address)
    _fail_with([] if valid else ["must be an email address"])
    return address


def _phone(number: str) -> str:
    digits = number.removeprefix("+")
    valid = number.startswith("+") and digits.isdigit() and 8 <= len(digits) <= 15 and digits[0] != "0"
    _fail_with([] if valid else ["must be an E.164 phone number, such as +441234567890"])
    return number


def _url(url: str) -> str:
    parts = urlsplit(url)
    _fail_with([] if parts.scheme in {"http", "https"} and parts.netloc else ["must be an http(s) URL"])
    return url


def _cron(expression: str) -> str:
    try:
        CronExpression.parse(expression)
    except InvalidCronExpression as error:
        raise ValueError(f"invalid NCRONTAB expression: {error.reason}") from None
    return expression


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
        valid = name not in _NOT_ZONES
    except (ZoneInfoNotFoundError, ValueError, OSError):
        valid = False
    _fail_with([] if valid else ["must be an IANA time zone, such as Europe/London or UTC"])
    return name


def _template(template: str) -> str:
    _fail_with(template_problems(template))
    return template


def _query(query: str) -> str:
    _fail_with(query_problems(query))
    return query


def _procedure(name: str) -> str:
    _fail_with(procedure_problems(name))
    return name


def _configured_source(name: str, info: ValidationInfo) -> str:
    sources = _known(info).sources
    if name.lower() not in sources:
        configured = ", ".join(sorted(sources)) or "none"
        raise ValueError(
            f"unknown source {name!r}; configured sources: {configured} (ConnectionStrings__Sources__<name>)"
        )
    return name.lower()


def _defined_contact(name: str, info: ValidationInfo) -> str:
    if name.casefold() not in _known(info).contacts:
        raise ValueError(f"unknown contact {name!r}: define it under contacts or create it first")
    return name


def _text(max_length: int | None = None) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=max_length)


Name = Annotated[str, _text(255), AfterValidator(_trimmed)]
Owner = Annotated[str, _text(100), AfterValidator(_trimmed)]
Email = Annotated[str, _text(255), AfterValidator(_email)]
Phone = Annotated[str, _text(50), AfterValidator(_phone)]
WebUrl = Annotated[str, _text(2000), AfterValidator(_url)]
Cron = Annotated[str, _text(120), AfterValidator(_cron)]
TimeZone = Annotated[str, _text(64), AfterValidator(_timezone)]
Subject = Annotated[str, _text(500), AfterValidator(_template)]
Description = Annotated[str, _text(), AfterValidator(_template)]
Query = Annotated[str, _text(), AfterValidator(_query)]
Procedure = Annotated[str, _text(), AfterValidator(_procedure)]
SourceName = Annotated[str, _text(100), AfterValidator(_configured_source)]
ContactName = Annotated[str, _text(255), AfterValidator(_defined_contact)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Entry(_Model):
    """One entry of a section of the file."""

    @classmethod
    def entry_problems(cls, entry: Mapping[Any, Any]) -> list[str]:
        """Problems of the entry as a whole (fields that exclude each other), found on the raw mapping."""
        return []


class ContactModel(Entry):
    """`contacts[i]`: a person or channel alerts are sent to."""

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    teams_webhook: WebUrl | None = None
    slack_webhook: WebUrl | None = None
    webhook_url: WebUrl | None = None
    is_active: bool = True


class ContactLinkModel(_Model):
    """`kpis[i].contacts[j]`: a contact of the KPI, told at escalation `level` (0 first)."""

    name: ContactName
    level: int = Field(0, ge=0, le=SMALLINT_MAX)


class ScheduleModel(_Model):
    """`kpis[i].schedule`: a six-field (or five-field) NCRONTAB in an IANA time zone."""

    cron: Cron
    timezone: TimeZone = "UTC"


class ThresholdModel(_Model):
    """`kpis[i].threshold`: a fixed comparison that breaches on its own."""

    operator: Literal["gt", "gte", "lt", "lte", "eq"]
    value: float


class BaselineModel(_Model):
    """`kpis[i].baseline`: the same window weeks back from our history (`history`: an aggregate and a
    percentage; `seasonal`: a median and a noise band `tolerance` robust standard deviations wide), or the
    source's own value. `weeks_back` defaults to 4 for history and 8 for seasonal."""

    mode: Literal["history", "source", "seasonal"] = "history"
    weeks_back: int | None = Field(None, ge=1, le=52)
    aggregate: Literal["mean", "median"] = "median"
    tolerance: float | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _tolerance_is_seasonal(self) -> BaselineModel:
        if self.tolerance is not None and self.mode != "seasonal":
            raise ValueError("tolerance applies to the seasonal baseline only (mode: seasonal)")
        return self


def _one_of(entry: Mapping[Any, Any], first: str, second: str) -> list[str]:
    given = [key for key in (first, second) if entry.get(key) is not None]
    if len(given) == 2:
        return [f"give either {first} or {second}, not both"]
    return [] if given else [f"give {first} or {second}"]


def _unique_contacts(links: list[ContactLinkModel]) -> list[ContactLinkModel]:
    names = [link.name.casefold() for link in links]
    repeated = sorted({name for name in names if names.count(name) > 1})
    _fail_with([f"contact {name!r} is listed more than once" for name in repeated])
    return links


class KpiModel(Entry):
    """`kpis[i]`: one indicator; exactly one of query/procedure and of frequency_minutes/schedule."""

    indicator: Name
    owner: Owner
    priority: Literal[1, 2]
    source: SourceName
    query: Query | None = None
    procedure: Procedure | None = None
    frequency_minutes: int | None = Field(None, gt=0, le=INT_MAX)
    schedule: ScheduleModel | None = None
    last_minutes: int = Field(gt=0, le=INT_MAX)
    deviation_percent: float = Field(ge=0)
    direction: Literal["up", "down", "both"] = "both"
    minimum_threshold: float | None = None
    threshold: ThresholdModel | None = None
    baseline: BaselineModel = BaselineModel()
    noise_floor: float = Field(0.0, ge=0)
    cooldown_minutes: int = Field(30, ge=0, le=INT_MAX)
    fire_after: int = Field(1, ge=1, le=SMALLINT_MAX)
    resolve_after: int = Field(1, ge=1, le=SMALLINT_MAX)
    failure_alert_after: int = Field(3, ge=1, le=SMALLINT_MAX)
    no_data: Literal["keep", "alert", "ok"] = "keep"
    subject_template: Subject
    description_template: Description
    contacts: Annotated[list[ContactLinkModel], AfterValidator(_unique_contacts)] = []
    is_active: bool = True

    @classmethod
    def entry_problems(cls, entry: Mapping[Any, Any]) -> list[str]:
        return _one_of(entry, "query", "procedure") + _one_of(entry, "frequency_minutes", "schedule")


def describe_error(detail: ErrorDetails) -> list[str]:
    """`.field.path: message` lines for one pydantic error (a validator may report several lines)."""
    location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
    context = detail.get("ctx", {})
    if detail["type"] == "value_error":
        message = str(context["error"])
    elif detail["type"] in _MESSAGES:
        message = _MESSAGES[detail["type"]].format(**{key: _number(value) for key, value in context.items()})
    else:
        message = detail["msg"][:1].lower() + detail["msg"][1:]
    return [f"{location}: {line}" for line in message.split("\n")]


def _number(value: object) -> object:
    """`0` rather than `0.0` in messages about whole-number bounds."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
