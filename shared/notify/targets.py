"""Checking a webhook URL against the target rules at send time, and pinning the request to what was checked.

`checked_target` resolves the host (through an injectable resolver, the system's by default), applies
`shared.domain.targets` to every address it resolves to and returns the URL rewritten to the first of them,
with the original host for the `Host` header and for TLS (SNI and certificate checks). The request then
connects to exactly the address that was checked, so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot move it to a forbidden address. Nothing connects before the check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from requests.adapters import HTTPAdapter

from shared.domain.targets import (
    IpAddress,
    TargetRules,
    address_problem,
    is_loopback,
    literal_address,
    scheme_problem,
)

#: `host, port -> addresses` (text, as `getaddrinfo` gives them).
Resolver = Callable[[str, int], Sequence[str]]


class TargetRefused(Exception):
    """The URL may not be posted to: `reason` says why (no secret in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvableHost(Exception):
    """The host name did not resolve (a transient failure: DNS may come back)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, by the operating system's resolver."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetPolicy:
    """The rules (from the settings) and the resolver that applies them (injectable for tests)."""

    rules: TargetRules = field(default_factory=TargetRules)
    resolver: Resolver = system_resolver


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """A checked URL: `url` names the checked address; `host` is the original host name."""

    url: str
    host: str
    host_header: str


def checked_target(url: str, policy: TargetPolicy) -> Target:
    """`url` checked and pinned; raises `TargetRefused` (permanent) or `UnresolvableHost`."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    addresses = _resolve(host, port, policy.resolver)
    loopback = all(is_loopback(address) for address in addresses)
    problems = [address_problem(address, policy.rules) for address in addresses]
    problems.append(scheme_problem(parts.scheme.lower(), loopback=loopback, rules=policy.rules))
    problem = next((found for found in problems if found), "")
    if problem:
        raise TargetRefused(problem)
    return Target(url=_with_address(parts, addresses[0]), host=host, host_header=_host_header(parts))


def _resolve(host: str, port: int, resolver: Resolver) -> list[IpAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        found = [ipaddress.ip_address(text.split("%", 1)[0]) for text in resolver(host, port)]
    except (OSError, UnicodeError, ValueError):
        raise UnresolvableHost from None
    if not found:
        raise UnresolvableHost
    return found


def _with_address(parts: SplitResult, address: IpAddress) -> str:
    shown = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + shown + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _host_header(parts: SplitResult) -> str:
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return shown + (f":{parts.port}" if parts.port else "")


class PinnedAdapter(HTTPAdapter):
    """Connects to the URL's (checked) address while TLS uses the original host name for SNI and for the
    certificate's name check."""

    def __init__(self, host: str) -> None:
        self._host = host
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            extra: dict[str, Any] = {"server_hostname": self._host, "assert_hostname": self._host}
            return host_params, {**pool_kwargs, **extra}
        return host_params, pool_kwargs
