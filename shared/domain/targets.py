"""Which URLs a Teams, Slack or generic webhook notice may be posted to (pure: no DNS, no sockets).

A contact's URL comes from a definitions file, so it must not turn the service into a way of reaching what
only the service can reach (server-side request forgery): the instance metadata endpoint, the platform's
wire server, the monitoring database, a private network. The rules:

- `https` only; plain `http` only to a loopback address and only with `Notifications__AllowHttpLoopback`;
- every address the host name resolves to must be public: loopback needs `AllowHttpLoopback` or
  `Notifications__AllowPrivateTargets`, private, link-local, shared (100.64/10), unique-local and other
  non-global addresses need `AllowPrivateTargets`; cloud metadata addresses are refused always.

`url_problem` applies what can be known without DNS (scheme, an IP-literal host, `localhost`): definitions
import uses it. `address_problem` judges one resolved address: the HTTP client applies it to every address
of the host at send time and then connects to the address it checked.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata and platform endpoints: never a notification target, whatever the settings.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # Azure IMDS, AWS, GCP metadata
        "168.63.129.16",  # Azure wire server
        "169.254.170.2",  # container credential endpoints
        "100.100.100.200",  # Alibaba metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetRules:
    """What the settings allow beyond public https targets."""

    allow_http_loopback: bool = False
    allow_private: bool = False


def embedded_address(address: IpAddress) -> IpAddress:
    """The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address carries,
    else `address` itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_loopback(address: IpAddress) -> bool:
    return embedded_address(address).is_loopback


def address_problem(address: IpAddress, rules: TargetRules) -> str:
    """Why a notice may not be sent to `address` (empty when it may)."""
    plain = embedded_address(address)
    if plain in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if plain.is_loopback:
        allowed = rules.allow_http_loopback or rules.allow_private
        return "" if allowed else f"{address} is a loopback address (Notifications__AllowHttpLoopback)"
    if plain.is_global and not plain.is_multicast:
        return ""
    if plain.is_multicast or plain.is_unspecified:
        return f"{address} is not a unicast address"
    if rules.allow_private:
        return ""
    return f"{address} is a private or link-local address (Notifications__AllowPrivateTargets)"


def literal_address(host: str) -> IpAddress | None:
    """The address an IP-literal host names (`10.0.0.1`, `::1` without brackets), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def scheme_problem(scheme: str, *, loopback: bool, rules: TargetRules) -> str:
    """Why `scheme` may not be used for a host that is (`loopback`) or is not only loopback."""
    if scheme == "https":
        return ""
    if scheme != "http":
        return "must be an https URL"
    if loopback and rules.allow_http_loopback:
        return ""
    return "must be an https URL (plain http only to loopback with Notifications__AllowHttpLoopback)"


def url_problem(url: str, rules: TargetRules) -> str:
    """What is wrong with `url` as a notification target, judged without DNS (empty when nothing is)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return "must be an https URL"
    if not parts.scheme or not host:
        return "must be an https URL"
    address = literal_address(host)
    loopback = host in _LOOPBACK_NAMES or (address is not None and is_loopback(address))
    problem = scheme_problem(parts.scheme.lower(), loopback=loopback, rules=rules)
    if problem or address is None:
        return problem
    return address_problem(address, rules)
