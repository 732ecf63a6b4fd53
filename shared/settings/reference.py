"""The reference of every setting: names, defaults and ranges (for docs/settings.md, the example settings and
validation messages), effective values for display, and masking of secrets."""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.settings.model import Settings
from shared.settings.schedules import FLAT_BY_OLD_NAME

_URL = re.compile(r"^[A-Za-z][\w+.-]*://")
# `Name=value` parts that hold secrets, plain or URL-encoded (`%3D`, `%3B`) as in an `odbc_connect` query.
_SECRET_PART = re.compile(r"(?i)\b(\w*(?:key|password|pwd|secret|token|sig)\w*)(=|%3D)(.*?)(?=;|%3B|&|$)")


@dataclass(frozen=True, kw_only=True, slots=True)
class SettingSpec:
    """One app setting: its name, default, what it accepts and what it does."""

    name: str
    default: Any
    allowed: str
    description: str
    secret: bool


def catalog() -> Iterator[SettingSpec]:
    """Every app setting the model reads, in declaration order."""
    yield from _walk(Settings, "")


def _walk(model: type[BaseModel], prefix: str) -> Iterator[SettingSpec]:
    for info in model.model_fields.values():
        if _internal(info):
            continue
        name = f"{prefix}{info.alias}"
        submodel = _submodel(info)
        if submodel is not None:
            yield from _walk(submodel, f"{name}__")
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        suffix = extra.get("env_suffix")
        yield SettingSpec(
            name=f"{name}__{suffix}" if suffix else FLAT_BY_OLD_NAME.get(name, name),
            default=None if suffix else info.get_default(call_default_factory=True),
            allowed=_allowed(info),
            description=info.description or "",
            secret=bool(extra.get("secret")),
        )


def _internal(info: FieldInfo) -> bool:
    """A field the model computes, not an app setting."""
    return isinstance(info.json_schema_extra, dict) and bool(info.json_schema_extra.get("internal"))


def _allowed(info: FieldInfo) -> str:
    low = next((item.ge for item in info.metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in info.metadata if isinstance(item, Le)), None)
    if low is not None and high is not None:
        return f"integer {low}..{high}"
    if info.annotation is bool:
        return "true or false"
    if typing.get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(info.annotation)))
    if isinstance(info.default, str) and info.alias and ("Schedule" in info.alias or "Cron" in info.alias):
        return "six-field NCRONTAB, UTC"
    if info.alias in {"Monitoring", "Sources"}:
        return "SQLAlchemy URL"
    return "text"


def describe(detail: ErrorDetails) -> str:
    """One line per invalid setting: name, value and what is allowed, never a secret value."""
    name = _setting_name(detail["loc"])
    spec = _spec_by_name().get(name.lower())
    if detail["type"] == "value_error" and spec is None:
        # A cross-field check: its message already names the settings involved.
        return str(detail["ctx"]["error"]) if "ctx" in detail else detail["msg"]
    value = "***" if spec is not None and spec.secret else repr(detail.get("input"))
    if spec is None:
        return f"{name} = {value}: {detail['msg']}"
    reason = str(detail["ctx"]["error"]) if detail["type"] == "value_error" else detail["msg"]
    return f"{spec.name} = {value}: {reason} (allowed: {spec.allowed})"


def _setting_name(location: tuple[int | str, ...]) -> str:
    """The app-setting name of an error location, whether pydantic reports field names or aliases."""
    parts: list[str] = []
    model: type[BaseModel] | None = Settings
    for part in map(str, location):
        info = _field(model, part) if model is not None else None
        parts.append(info.alias if info is not None and info.alias else part)
        model = _submodel(info)
    name = "__".join(parts)
    return FLAT_BY_OLD_NAME.get(name, name)


def _field(model: type[BaseModel], part: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if part.lower() in {name.lower(), str(info.alias).lower()}:
            return info
    return None


def _submodel(info: FieldInfo | None) -> type[BaseModel] | None:
    annotation = info.annotation if info is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


@functools.cache
def _spec_by_name() -> dict[str, SettingSpec]:
    return {spec.name.lower(): spec for spec in catalog()}


def effective_values(settings: Settings) -> dict[str, Any]:
    """Every setting's effective value by its app-setting name, secrets masked (`mgrid settings show`)."""
    return dict(_values(settings, ""))


def _values(model: BaseModel, prefix: str) -> Iterator[tuple[str, Any]]:
    for field_name, info in type(model).model_fields.items():
        if _internal(info):
            continue
        name = f"{prefix}{info.alias}"
        value = getattr(model, field_name)
        if isinstance(value, BaseModel):
            yield from _values(value, f"{name}__")
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        secret = bool(extra.get("secret"))
        if isinstance(value, dict):
            for key, item in sorted(value.items()):
                yield f"{name}__{key}", mask_secret(item) if secret else item
        elif secret and isinstance(value, str):
            yield (
                FLAT_BY_OLD_NAME.get(name, name),
                "***" if extra.get("mask") == "whole" else mask_secret(value),
            )
        else:
            yield FLAT_BY_OLD_NAME.get(name, name), value


def mask_secret(value: str) -> str:
    """Hide the secret parts of a connection URL or `Key=Value;` string, keep the rest readable; a value that
    is neither (a bare token) is hidden whole."""
    if "=" not in value and not _URL.match(value):
        return "***"
    value = _SECRET_PART.sub(lambda match: f"{match.group(1)}{match.group(2)}***", value)
    if not _URL.match(value):
        return value
    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"
