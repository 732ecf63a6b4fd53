"""The status page's files: the shell at `GET /api/dashboard` and its built assets under
`/api/dashboard/assets/`, read from `web/dist` (built by `npm run build`; shipped in the deployed package).

Anonymous on purpose: the shell and assets hold no data; the page reads everything from the API with the
caller's key or sign-in. Every response forbids framing and loading anything from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

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


def _response(found: StaticFile) -> Response:
    return Response(found.body, media_type=found.content_type, headers=SECURITY_HEADERS)


router = APIRouter(include_in_schema=False)


@router.get("/api/dashboard")
def dashboard_page() -> Response:
    found = shell()
    if found is None:
        return Response(NOT_BUILT, status_code=503, media_type="text/html", headers=SECURITY_HEADERS)
    return _response(found)


@router.get("/api/dashboard/")
def dashboard_slash() -> Response:
    """The page's links are relative to `/api/dashboard`; a trailing slash would break them."""
    return RedirectResponse("../dashboard", status_code=308)


@router.get("/api/dashboard/assets/{name}")
def dashboard_asset(name: str) -> Response:
    found = asset(name)
    if found is None:
        return Response(b'{"error": "no such asset"}', status_code=404, media_type="application/json")
    return _response(found)
