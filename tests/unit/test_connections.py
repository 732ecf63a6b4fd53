"""The lazy Entra ID credential: nothing is imported or built until the first token is asked for."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import pytest

from shared.connections import AZURE_SQL_SCOPE, LazyAzureCredential


class FakeDefaultCredential:
    built: ClassVar[list[str | None]] = []

    def __init__(self, *, managed_identity_client_id: str | None) -> None:
        self.built.append(managed_identity_client_id)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return types.SimpleNamespace(token=f"token for {scopes[0]}")


def test_the_credential_is_built_once_on_the_first_token_with_the_client_id_passed_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("azure.identity")
    fake.DefaultAzureCredential = FakeDefaultCredential  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity", fake)
    FakeDefaultCredential.built = []
    credential = LazyAzureCredential("client-1")
    assert FakeDefaultCredential.built == []
    assert credential.get_token(AZURE_SQL_SCOPE).token == f"token for {AZURE_SQL_SCOPE}"
    assert credential.get_token(AZURE_SQL_SCOPE).token == f"token for {AZURE_SQL_SCOPE}"
    assert FakeDefaultCredential.built == ["client-1"]
