"""The status page's files: the shell at `GET /api/dashboard` and its built assets under
`/api/dashboard/assets/`, read from `web/dist` (built by `npm run build`; shipped in the deployed package).
Served by the anonymous `dashboard` function (shared/triggers/dashboard.py), not by the API's app.

Anonymous on purpose: the shell and assets hold no data; the page reads everything from the API with the
caller's key or sign-in (in Azure, App Service Authentication still asks for sign-in before the page).
Every response forbids framing and loading anything from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
NOT_BUILT = (
    "<!doctype html><title>Status page not built</title><h1>The status page is not built</h1>"
    "<p>Run <code>npm ci &amp;&amp; npm run build</code> (make deps does) and reload.</p>"
)


@dataclass(frozen=True, kw_only=True)
class StaticFile:
    body: bytes
    content_type: str


def shell(dist: Path = DIST) -> StaticFile | None:
    """The page's HTML, or None when the page has not been built."""
    return _read(dist / "index.html")


def asset(name: str, dist: Path = DIST) -> StaticFile | None:
    """A built asset by its plain file name (nothing outside `dist/assets` can be named), or None."""
    folder = dist / "assets"
    if not folder.is_dir() or name not in {path.name for path in folder.iterdir() if path.is_file()}:
        return None
    return _read(folder / name)


def _read(path: Path) -> StaticFile | None:
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or not path.is_file():
        return None
    return StaticFile(body=path.read_bytes(), content_type=content_type)


def respond(path: str, rest: str | None, dist: Path = DIST) -> Response:
    """The answer to `GET /api/dashboard[/REST]` where `path` is the request's URL path."""
    rest = (rest or "").strip("/")
    if not rest:
        if path.endswith(
            "/"
        ):  # the page's links are relative to /api/dashboard: a trailing slash breaks them
            return Response(status=308, headers={"Location": "../dashboard"})
        found = shell(dist)
        if found is None:
            return Response(status=503, body=NOT_BUILT.encode(), content_type="text/html; charset=utf-8")
        return Response(status=200, body=found.body, content_type=found.content_type)
    folder, _, name = rest.partition("/")
    found = asset(name, dist) if folder == "assets" else None
    if found is None:
        return Response(status=404, body=b'{"error": "path: no such file"}', content_type="application/json")
    return Response(status=200, body=found.body, content_type=found.content_type)


@dataclass(frozen=True, kw_only=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        content = {"Content-Type": self.content_type} if self.content_type else {}
        return {**SECURITY_HEADERS, **content, **self.headers}
