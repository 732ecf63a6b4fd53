"""HTTP triggers: a stdlib threading server routing `/<routePrefix>/<route>` to the app's HTTP functions."""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

log = logging.getLogger("devhost")

_PARAMETER = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\??)\}$")
ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Route:
    """One HTTP function's route template, compiled, with its methods and auth level."""

    function: str
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    auth_level: str

    @classmethod
    def build(cls, function: str, template: str, methods: Sequence[str] | None, auth_level: str) -> Route:
        return cls(
            function,
            template,
            compile_template(template),
            frozenset(m.upper() for m in (methods or ALL_METHODS)),
            auth_level.upper(),
        )

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Sort key, most specific first, as the host's router prefers: no catch-all, more literal segments,
        fewer parameters (`health` wins over `{*route}`; `alerts/{id}/ack` over `alerts/{id}`)."""
        segments = [segment for segment in self.template.strip("/").split("/") if segment]
        parameters = [segment for segment in segments if _PARAMETER.match(segment)]
        catch_all = any(segment.startswith("{*") for segment in parameters)
        return (int(catch_all), -(len(segments) - len(parameters)), len(parameters))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: value for name, value in found.groupdict().items() if value is not None}


def compile_template(template: str) -> re.Pattern[str]:
    """A regex for a route template: `items/{id}`, `{id:int}` (constraint ignored), `{id?}`, `{*rest}`."""
    parts = []
    for segment in template.strip("/").split("/"):
        parameter = _PARAMETER.match(segment)
        if parameter is None:
            parts.append("/" + re.escape(segment))
            continue
        catch_all, name, optional = parameter.groups()
        value = f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
        parts.append(f"(?:/{value})?" if optional or catch_all else f"/{value}")
    return re.compile("".join(parts), re.IGNORECASE)


Handler = Callable[[str, func.HttpRequest], func.HttpResponse]
"""Runs the named function for a request and gives its response."""


class Router:
    """Finds the function for a method and path; answers 404, 405 and 401 itself."""

    def __init__(self, routes: Sequence[Route], prefix: str, function_key: str | None) -> None:
        self._routes = list(routes)
        self._prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._key = function_key

    def resolve(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[Route, dict[str, str]] | int:
        """The route and its parameters, or the status to answer with."""
        if self._prefix:
            if not (path == self._prefix or path.lower().startswith(self._prefix.lower() + "/")):
                return 404
            path = path[len(self._prefix) :]
        path = "/" + path.strip("/")
        matched = [(route, params) for route in self._routes if (params := route.match(path)) is not None]
        matched.sort(key=lambda found: found[0].specificity)
        if not matched:
            return 404
        for route, params in matched:
            if method.upper() in route.methods:
                return (route, params) if self._authorized(route, query, headers) else 401
        return 405

    def _authorized(self, route: Route, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        if self._key is None or route.auth_level == "ANONYMOUS":
            return True
        given = query.get("code") or next(
            (value for name, value in headers.items() if name.lower() == "x-functions-key"), ""
        )
        return hmac.compare_digest(given.encode(), self._key.encode())


class HttpServer:
    """The server thread: every request builds a `func.HttpRequest` and writes the function's response."""

    def __init__(self, host: str, port: int, router: Router, handler: Handler) -> None:
        self._router = router
        self._handler = handler
        self._address = host
        self._server = ThreadingHTTPServer((host, port), self._request_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle's algorithm the body waits for the client's
            # delayed ACK (about 40 ms per keep-alive request), as the Functions host's server does not.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                server.serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http %s", format % args)

        return RequestHandler

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = dict(request.headers.items())
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        resolved = self._router.resolve(request.command, split.path, query, headers)
        if isinstance(resolved, int):
            self._write(request, func.HttpResponse(status_code=resolved))
            return
        route, params = resolved
        host = request.headers.get("Host") or f"{self._address}:{self.port}"
        http_request = func.HttpRequest(
            request.command,
            f"http://{host}{request.path}",
            headers=headers,
            params=query,
            route_params=params,
            body=body,
        )
        try:
            response = self._handler(route.function, http_request)
        except Exception:
            log.exception("HTTP function %s failed", route.function)
            response = func.HttpResponse(status_code=500)
        self._write(request, response)

    @staticmethod
    def _write(request: BaseHTTPRequestHandler, response: func.HttpResponse) -> None:
        body = response.get_body() or b""
        request.send_response(response.status_code)
        names = {name.lower() for name, _ in response.headers.items()}
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        if "content-type" not in names and response.mimetype:
            charset = f"; charset={response.charset}" if response.charset else ""
            request.send_header("Content-Type", f"{response.mimetype}{charset}")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
