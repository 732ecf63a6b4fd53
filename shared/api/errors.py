"""Every error is `{"error": "field: message"}` with a 4xx: validation 422 (400 for a body that is not JSON),
404 for what does not exist, 409 for a transition that does not apply. Nothing answers 500 with a trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mgrid.api")


class ApiError(Exception):
    """An answer other than success: the status and the text naming the field."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(text)


def not_found(what: str) -> ApiError:
    return ApiError(404, what)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(CatchAll)


class CatchAll:
    """Any other exception: logged, and answered 503 `{"error": ...}` (the database may be down). Starlette's
    own handler would re-raise it, which fails the function invocation and makes the host answer 500."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, watched)
        except Exception:
            log.exception("the API failed on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            answer = JSONResponse({"error": "server: unexpected error (logged)"}, status_code=503)
            await answer(scope, receive, send)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, ApiError):  # registered for ApiError only
        raise error
    return JSONResponse({"error": error.text}, status_code=error.status)


async def _validation_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, RequestValidationError):  # registered for RequestValidationError only
        raise error
    if request.url.path.endswith("/ack"):  # the ack link's page answers in HTML, to people
        from shared.api.ack_page import problem_page

        return problem_page(
            400, "This is not an acknowledgement link this service made (it may have been cut)."
        )
    problems = list(error.errors())
    first = problems[0] if problems else {}
    if first.get("type") == "json_invalid":
        return JSONResponse({"error": "body: not valid JSON"}, status_code=400)
    text = "; ".join(_problem(p) for p in problems[:5])
    return JSONResponse({"error": text}, status_code=400 if _malformed(problems) else 422)


def _malformed(problems: list[Any]) -> bool:
    """A path that is not an id, or a body that is not a JSON object: the request itself is wrong (400, as
    the acknowledge and resolve functions have always answered); a wrong field value is 422."""
    return any(
        tuple(p.get("loc", ()))[:1] == ("path",) or tuple(p.get("loc", ())) == ("body",) for p in problems
    )


def _problem(problem: Any) -> str:
    location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or "body"
    return f"{field}: {problem.get('msg', 'invalid')}"


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, HTTPException):  # registered for HTTPException only
        raise error
    text = {404: "path: no such route", 405: "method: not allowed on this route"}.get(
        error.status_code, str(error.detail)
    )
    return JSONResponse({"error": text}, status_code=error.status_code, headers=error.headers)
