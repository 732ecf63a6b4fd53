"""Posting a JSON notification over HTTP, shared by the Teams, Slack and generic webhook channels.

One POST per delivery with `requests` (proxies from the environment as usual), bounded by a timeout, never
following a redirect (a 3xx is a failed delivery), to a URL checked by `shared.notify.targets` first (https,
public addresses, pinned against DNS rebinding). A 2xx answer is success; 408, 429, 5xx, a refused connection
and a timeout are transient; any other answer is permanent. Webhook URLs carry their secret in the path or
the query, so an error names the URL as `scheme://host/path` at most (`scheme://host` for Teams and Slack),
never its query string, user info or the text of a `requests` exception (which quotes the whole URL); for the
same reason a `DeliveryError` does not chain the `requests` exception, so a logged traceback cannot show the
URL either.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from shared.domain.notification import Channel
from shared.notify import one_line
from shared.notify.base import DeliveryError
from shared.notify.targets import (
    PinnedAdapter,
    Target,
    TargetPolicy,
    TargetRefused,
    UnresolvableHost,
    checked_target,
)

#: urllib3 logs each request line at DEBUG, path and query included: where webhook URLs keep their secret.
_REQUEST_LINE = re.compile(r'"([A-Z]+) \S+ (HTTP/[\d.]+)"')


class RequestLineRedactor(logging.Filter):
    """Replaces the target of the request line in urllib3's DEBUG records by `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _REQUEST_LINE.sub(r'"\1 *** \2"', message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RequestLineRedactor())

#: How much of an error response's body an error reason quotes.
SNIPPET_LENGTH = 200
_TRANSIENT_STATUSES = frozenset({408, 429})


def encode_json(payload: object) -> bytes:
    """`payload` as compact UTF-8 JSON: the exact bytes that are sent (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def public_url(url: str, *, show_path: bool = True) -> str:
    """`url` without what may be secret: `scheme://host[:port]/path`, or `scheme://host[:port]` when
    `show_path` is false; no user info, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    path = parts.path if show_path else ""
    return f"{parts.scheme}://{host}{port}{path}" if parts.scheme and host else "<invalid URL>"


def post_json(
    url: str,
    body: bytes,
    *,
    channel: Channel,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    show_path: bool = True,
    policy: TargetPolicy | None = None,
) -> None:
    """POST `body` (JSON bytes) to `url`; return on a 2xx answer, otherwise raise `DeliveryError`. The URL
    is checked against `policy` (strict by default) before any connection, and the request is pinned to the
    address that was checked (`shared.notify.targets`)."""
    where = public_url(url, show_path=show_path)
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https") or where == "<invalid URL>":
        raise DeliveryError(channel, f"not an http(s) URL: {where}", permanent=True)
    target = _checked(url, policy or TargetPolicy(), channel=channel, where=where)
    sent_headers = {"Content-Type": "application/json", **(headers or {}), "Host": target.host_header}
    try:
        with requests.Session() as session:
            session.mount("https://", PinnedAdapter(target.host))
            session.mount("http://", PinnedAdapter(target.host))
            _post(session, target.url, body, sent_headers, timeout_s, channel=channel, where=where)
    except requests.Timeout:
        raise DeliveryError(channel, f"{where} did not answer within {timeout_s:g} s") from None
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    ):
        raise DeliveryError(channel, f"not a valid URL: {where}", permanent=True) from None
    except requests.ConnectionError as error:
        raise DeliveryError(channel, f"{where}: connection failed: {_cause(error)}") from None
    except requests.RequestException as error:
        raise DeliveryError(channel, f"{where}: {type(error).__name__}: {_cause(error)}") from None


def _checked(url: str, policy: TargetPolicy, *, channel: Channel, where: str) -> Target:
    try:
        return checked_target(url, policy)
    except TargetRefused as refused:
        raise DeliveryError(channel, f"{where}: refused: {refused.reason}", permanent=True) from None
    except UnresolvableHost:
        raise DeliveryError(channel, f"{where}: the host name does not resolve") from None


def _post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    channel: Channel,
    where: str,
) -> None:
    with session.post(
        url,
        data=body,
        headers=headers,
        timeout=timeout_s,
        allow_redirects=False,
        stream=True,
    ) as response:
        _check(response, channel=channel, where=where)


def _check(response: requests.Response, *, channel: Channel, where: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"{where} answered {status}"
    if 300 <= status < 400:
        reason += " (redirects are not followed)"
    retry_after = response.headers.get("Retry-After")
    if status == 429 and retry_after:
        reason += f" (Retry-After: {one_line(retry_after)[:40]})"
    snippet = _snippet(response)
    if snippet:
        reason += f": {snippet}"
    transient = status in _TRANSIENT_STATUSES or status >= 500
    raise DeliveryError(channel, reason, permanent=not transient)


def _snippet(response: requests.Response) -> str:
    """The first characters of the response body, on one line (reading at most a few kilobytes)."""
    try:
        head = next(response.iter_content(chunk_size=4 * SNIPPET_LENGTH), b"")
    except requests.RequestException:
        return ""
    return one_line(head.decode("utf-8", "replace"))[:SNIPPET_LENGTH]


def _cause(error: BaseException) -> str:
    """The innermost operating-system reason ("Connection refused") of a `requests` error, or its type:
    never its text, which quotes the URL."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        following = current.__cause__ or current.__context__ or getattr(current, "reason", None)
        if following is None and current.args and isinstance(current.args[0], BaseException):
            following = current.args[0]
        current = following if isinstance(following, BaseException) else None
    return type(error).__name__
