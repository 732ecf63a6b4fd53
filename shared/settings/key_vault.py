"""Key Vault references in app settings: the platform leaves `@Microsoft.KeyVault(...)` in place when it
cannot resolve one, and that text is never used as a value. An optional secret the deployment always sets
this way is treated as unset instead (`OPTIONAL_SECRETS`); in any other setting it is an invalid setting."""

from __future__ import annotations

from typing import Any

KEY_VAULT_PREFIX = "@microsoft.keyvault("


def resolved(value: object) -> object:
    """Refuse a value still holding a Key Vault reference: the platform leaves `@Microsoft.KeyVault(...)` in
    place when it cannot resolve it, and that text must never be used as a password or connection string."""
    if is_key_vault_reference(value):
        raise ValueError(UNRESOLVED)
    return value


UNRESOLVED = (
    "is an unresolved Key Vault reference (treated as missing): check that the secret exists and that the "
    "app's identity may read it"
)


def is_key_vault_reference(value: object) -> bool:
    """Whether `value` is the literal text of a Key Vault reference (`@Microsoft.KeyVault(...)`)."""
    return isinstance(value, str) and value.strip().lower().startswith(KEY_VAULT_PREFIX)


#: Optional secrets the deployment always sets as Key Vault references, whether or not their channel is used:
#: an unresolved one is treated as unset (its channel is not configured) and listed in
#: `Settings.unresolved_references`. An unresolved reference in any other setting is an invalid setting.
OPTIONAL_SECRETS = (
    ("Notifications", "Smtp", "Password"),
    ("Notifications", "Acs", "ConnectionString"),
    ("Notifications", "WebhookSecret"),
    ("APPLICATIONINSIGHTS_CONNECTION_STRING",),
)


def drop_unresolved(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the raw settings) with each unresolved optional secret removed, and their names listed under
    `unresolved_references`."""
    found: list[str] = []
    for path in OPTIONAL_SECRETS:
        if _pop_reference(data, path):
            found.append("__".join(path))
    return {**data, "unresolved_references": tuple(found)} if found else data


def _pop_reference(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Replace `path` (matched ignoring case) by None where it holds a Key Vault reference; whether it did."""
    key = next((key for key in data if isinstance(key, str) and key.lower() == path[0].lower()), None)
    if key is None:
        return False
    value = data[key]
    if len(path) == 1:
        if is_key_vault_reference(value):
            data[key] = None
            return True
        return False
    if isinstance(value, dict):
        data[key] = dict(value)
        return _pop_reference(data[key], path[1:])
    return False
