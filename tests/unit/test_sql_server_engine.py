"""SQL Server / Azure SQL engine: Entra ID tokens reach the ODBC driver in the right shape.

No SQL Server, ODBC driver or Azure identity endpoint can run here, so the credential is a recording stand-in
and the connection attempt is stopped right after our hook by a second `do_connect` listener; everything else
(pyodbc, SQLAlchemy's mssql dialect, the event plumbing) is real.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pyodbc
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from shared.connections import (
    AZURE_SQL_SCOPE,
    SQL_COPT_SS_ACCESS_TOKEN,
    AccessTokenHook,
    access_token_struct,
    strip_trusted_connection,
    uses_token_authentication,
)
from shared.db.engine import create_monitoring_engine

AZURE_SQL_URL = (
    "mssql+pyodbc://@example.database.windows.net:1433/monitoring"
    "?driver=ODBC+Driver+18+for+SQL+Server&Encrypt=yes"
)


@dataclass
class Token:
    token: str


class RecordingCredential:
    """Stands in for azure-identity: hands out numbered tokens and records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.scopes.append(scopes)
        return Token(f"eyJ0eXAiOiJKV1Qi.token-{len(self.scopes)}")


class Captured(Exception):
    """Raised by the capturing listener once our hook has run, before the driver is called."""


def _unpack(structure: bytes) -> str:
    (length,) = struct.unpack_from("<I", structure)
    assert length == len(structure) - 4
    return structure[4:].decode("utf-16-le")


@pytest.mark.parametrize("token", ["abc", "eyJhbGciOi.J9-_", "ü€", ""])
def test_the_token_struct_is_a_little_endian_length_then_utf16le_bytes(token: str) -> None:
    structure = access_token_struct(token)
    assert structure[:4] == len(token.encode("utf-16-le")).to_bytes(4, "little")
    assert _unpack(structure) == token
    assert (len(structure) - 4) % 2 == 0


@pytest.mark.parametrize(
    ("connection_string", "expected"),
    [
        ("DRIVER={ODBC Driver 18};Server=s;Trusted_Connection=Yes", "DRIVER={ODBC Driver 18};Server=s"),
        ("Trusted_Connection=yes;DRIVER=x;Database=d", "DRIVER=x;Database=d"),
        ("DRIVER=x; trusted_connection = YES ;Database=d", "DRIVER=x;Database=d"),
        ("DRIVER=x;Database=d", "DRIVER=x;Database=d"),
    ],
)
def test_trusted_connection_is_stripped(connection_string: str, expected: str) -> None:
    assert strip_trusted_connection(connection_string) == expected


def test_the_hook_adds_a_fresh_token_attribute_and_keeps_other_attributes() -> None:
    credential = RecordingCredential()
    hook = AccessTokenHook(credential)
    cargs = ["DRIVER={ODBC Driver 18 for SQL Server};Server=s;Trusted_Connection=Yes"]
    cparams: dict[str, Any] = {"attrs_before": {1: b"other"}}
    hook(None, None, cargs, cparams)
    hook(None, None, cargs, cparams)
    assert cargs == ["DRIVER={ODBC Driver 18 for SQL Server};Server=s"]
    assert cparams["attrs_before"][1] == b"other"
    assert _unpack(cparams["attrs_before"][SQL_COPT_SS_ACCESS_TOKEN]).endswith("token-2")
    assert credential.scopes == [(AZURE_SQL_SCOPE,), (AZURE_SQL_SCOPE,)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (AZURE_SQL_URL, True),
        ("mssql+pyodbc://user:pw@server/db?driver=ODBC+Driver+18+for+SQL+Server", False),
        ("mssql+pyodbc://@server/db?driver=x&authentication=ActiveDirectoryMsi", False),
    ],
)
def test_token_authentication_is_used_only_without_an_sql_login(url: str, expected: bool) -> None:
    assert uses_token_authentication(make_url(url)) is expected


def test_an_azure_sql_engine_passes_the_token_to_pyodbc_on_every_new_connection() -> None:
    pyodbc.pooling = True
    credential = RecordingCredential()
    engine = create_monitoring_engine(AZURE_SQL_URL, credential=credential)
    assert pyodbc.pooling is False
    seen: list[tuple[list[Any], dict[str, Any]]] = []

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        seen.append((list(cargs), dict(cparams)))
        raise Captured

    for _ in range(2):
        with pytest.raises(Captured):
            engine.connect()
    assert len(seen) == 2
    connection_string = seen[0][0][0]
    assert "Trusted_Connection" not in connection_string
    assert "Server=example.database.windows.net,1433" in connection_string
    assert "Encrypt=yes" in connection_string
    tokens = [_unpack(cparams["attrs_before"][SQL_COPT_SS_ACCESS_TOKEN]) for _, cparams in seen]
    assert tokens == ["eyJ0eXAiOiJKV1Qi.token-1", "eyJ0eXAiOiJKV1Qi.token-2"]


def test_an_sql_login_engine_sends_no_token() -> None:
    credential = RecordingCredential()
    engine = create_monitoring_engine(
        "mssql+pyodbc://user:pw@server/db?driver=ODBC+Driver+18+for+SQL+Server", credential=credential
    )
    seen: list[dict[str, Any]] = []

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, _cargs: list[Any], cparams: dict[str, Any]) -> None:
        seen.append(dict(cparams))
        raise Captured

    with pytest.raises(Captured):
        engine.connect()
    assert seen == [{}]
    assert credential.scopes == []
