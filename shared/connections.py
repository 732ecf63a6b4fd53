"""Connecting to databases, shared by the monitoring engine (`shared.db.engine`) and the source engines
(`shared.sources.engines`): the timeouts both use, and Entra ID token authentication for SQL Server / Azure
SQL (an access token per new connection, passed to the ODBC driver as a pre-connect attribute). Nothing here
reads the settings: a caller that knows the managed identity passes it in (`LazyAzureCredential`)."""

from __future__ import annotations

import re
import struct
from typing import Any, Protocol

from sqlalchemy.engine import URL

SQLITE_BUSY_TIMEOUT_S = 30
POSTGRES_CONNECT_TIMEOUT_S = 10
#: SQL_COPT_SS_ACCESS_TOKEN: the ODBC pre-connect attribute that carries an Entra ID access token.
SQL_COPT_SS_ACCESS_TOKEN = 1256
AZURE_SQL_SCOPE = "https://database.windows.net/.default"
_TRUSTED_CONNECTION = re.compile(r"(?i)(^|;)\s*Trusted_Connection\s*=[^;]*")


class AccessToken(Protocol):
    @property
    def token(self) -> str: ...


class TokenCredential(Protocol):
    """What azure-identity credentials offer: `get_token(scope)` with caching until near expiry."""

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any
    ) -> AccessToken: ...


class LazyAzureCredential:
    """azure-identity's default chain, built on the first token request (so processes that never use SQL
    Server token authentication never import azure-identity); in Azure it uses the managed identity named by
    `client_id` (the `AZURE_CLIENT_ID` setting), or azure-identity's own default when None."""

    def __init__(self, client_id: str | None = None) -> None:
        self.client_id = client_id
        self._credential: TokenCredential | None = None

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any
    ) -> AccessToken:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential(managed_identity_client_id=self.client_id)
        return self._credential.get_token(*scopes, claims=claims, tenant_id=tenant_id, **kwargs)


def uses_token_authentication(url: URL) -> bool:
    """True when the URL carries no SQL login and no explicit ODBC authentication mode."""
    query = {key.lower(): str(value).lower() for key, value in url.query.items()}
    explicit = "authentication" in query or "uid=" in query.get("odbc_connect", "")
    return not url.username and not url.password and not explicit


def access_token_struct(token: str) -> bytes:
    """The ODBC access-token structure: a 4-byte little-endian byte length, then the UTF-16-LE token."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def strip_trusted_connection(connection_string: str) -> str:
    """Remove `Trusted_Connection=...`: the driver refuses it together with an access token."""
    return _TRUSTED_CONNECTION.sub("", connection_string).strip(";")


class AccessTokenHook:
    """A `do_connect` listener that authenticates each new connection with a fresh access token."""

    def __init__(self, credential: TokenCredential) -> None:
        self.credential = credential

    def __call__(self, _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if cargs and isinstance(cargs[0], str):
            cargs[0] = strip_trusted_connection(cargs[0])
        attrs = dict(cparams.get("attrs_before") or {})
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = access_token_struct(
            self.credential.get_token(AZURE_SQL_SCOPE).token
        )
        cparams["attrs_before"] = attrs
