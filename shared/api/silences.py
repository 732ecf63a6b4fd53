"""`/api/silences`: list, add (the fields of `mgrid silences add`) and end silences, through the silence
service shared with the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from shared.api.auth import actor
from shared.api.errors import ApiError, not_found
from shared.api.models import ACTOR_PATTERN, SilenceItem, SilenceList, SilenceRequestBody
from shared.api.services import ApiServices
from shared.api.state import services
from shared.domain.silence import Silence, SilenceSource
from shared.services.alerts.silences import (
    InvalidSilence,
    SilenceNotFound,
    SilenceRequest,
    SilenceService,
    as_json,
)

router = APIRouter(prefix="/api/silences", tags=["silences"])
Services = Annotated[ApiServices, Depends(services)]
SilenceId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The silence's id.")]


@router.get("", response_model=SilenceList, summary="Current and future silences (`all`: past ones too)")
def list_silences(api: Services, everything: Annotated[bool, Query(alias="all")] = False) -> SilenceList:
    found = _service(api).list_silences(everything=everything)
    return SilenceList(items=[_item(silence, api) for silence in found])


@router.post("", response_model=SilenceItem, status_code=201, summary="Add a silence")
def add(body: SilenceRequestBody, request: Request, api: Services) -> SilenceItem:
    fields = body.model_dump(exclude={"by"})
    wanted = SilenceRequest(**fields, by=actor(request, body.by), source=SilenceSource.API)
    try:
        return _item(_service(api).add(wanted), api)
    except InvalidSilence as error:
        raise ApiError(422, f"{_field(error.field)}: {error.problem}") from None


@router.delete("/{silence_id}", response_model=SilenceItem, summary="End a silence now")
def expire(
    silence_id: SilenceId,
    request: Request,
    api: Services,
    by: Annotated[str | None, Query(max_length=100, pattern=ACTOR_PATTERN, description="Who ends it")] = None,
) -> SilenceItem:
    try:
        return _item(_service(api).expire(silence_id, by=actor(request, by)), api)
    except SilenceNotFound:
        raise not_found(f"silence_id: no silence with id {silence_id}") from None
    except InvalidSilence as error:
        raise ApiError(400, f"{_field(error.field)}: {error.problem}") from None


def _service(api: ApiServices) -> SilenceService:
    return SilenceService(api.engine, clock=api.clock)


def _item(silence: Silence, api: ApiServices) -> SilenceItem:
    return SilenceItem.model_validate(as_json(silence, now=api.clock()))


def _field(name: str) -> str:
    return {"duration": "for"}.get(name, name)
