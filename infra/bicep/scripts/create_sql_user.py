"""Make the function app's managed identity a user of the monitoring database: the post-provision step.

Runs `create-sql-user.sql` (beside this file) with its sqlcmd variables filled in, signed in as the Azure
principal of the Azure CLI or azd (azure-identity's default chain: a person, or a pipeline's service
principal), who must be the SQL server's Entra admin. The user is created from the SID computed here from the
identity's client id (`CREATE USER ... WITH SID = ..., TYPE = E`), so no directory lookup is needed. The
defaults come from the azd environment, which azd passes to its hooks; outside a hook give them as options:

    python infra/bicep/scripts/create_sql_user.py \
      --url 'mssql+pyodbc://@<server>.database.windows.net/monitoring?driver=ODBC+Driver+18+for+SQL+Server' \
      --identity-name <identity name> --client-id <identity client id>

It needs only `requirements.txt` installed (not the project itself): it puts the repository root on the
import path. `--dry-run` prints the statements instead of running them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SQL_FILE = Path(__file__).with_name("create-sql-user.sql")
ROOT = Path(__file__).resolve().parents[3]
# Managed identity names: 3-128 letters, digits, hyphens and underscores, starting with a letter or digit.
# Checking them keeps the name from closing the [bracketed] identifier or the N'...' literal it goes into.
_IDENTITY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}")


def sid_literal(client_id: str) -> str:
    """The T-SQL binary literal of an Entra application's SID: its client id as a GUID in the byte order
    SQL Server stores GUIDs (the first three fields little-endian, like .NET's Guid.ToByteArray)."""
    return "0x" + uuid.UUID(client_id).bytes_le.hex().upper()


def render(template: str, *, identity_name: str, client_id: str) -> str:
    """The script with `$(IdentityName)` and `$(Sid)` replaced; `ValueError` for a malformed value."""
    if not _IDENTITY_NAME.fullmatch(identity_name):
        raise ValueError(f"not a managed identity name: {identity_name!r}")
    return template.replace("$(IdentityName)", identity_name).replace("$(Sid)", sid_literal(client_id))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [option for option in ("url", "identity_name", "client_id") if not getattr(args, option)]
    if missing:
        names = ", ".join("--" + option.replace("_", "-") for option in missing)
        sys.stderr.write(f"missing {names} (or the azd environment values they default to)\n")
        return 2
    try:
        statements = render(SQL_FILE.read_text(), identity_name=args.identity_name, client_id=args.client_id)
    except ValueError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if args.dry_run:
        sys.stdout.write(statements)
        return 0
    engine = _engine(args.url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statements)
    finally:
        engine.dispose()
    sys.stdout.write(f"{args.identity_name} is a user of {engine.url.database} on {engine.url.host}\n")
    return 0


def _engine(url: str) -> Any:
    """The app's own engine factory (an Entra ID token per connection), imported from this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from shared.db.engine import create_monitoring_engine

    return create_monitoring_engine(url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url",
        default=os.environ.get("MONITORING_DATABASE_URL"),
        help="SQLAlchemy URL of the monitoring database (default: $MONITORING_DATABASE_URL)",
    )
    parser.add_argument(
        "--identity-name",
        default=os.environ.get("AZURE_MANAGED_IDENTITY_NAME"),
        help="name of the managed identity (default: $AZURE_MANAGED_IDENTITY_NAME)",
    )
    parser.add_argument(
        "--client-id",
        default=os.environ.get("AZURE_MANAGED_IDENTITY_CLIENT_ID"),
        help="client (application) id of the managed identity (default: $AZURE_MANAGED_IDENTITY_CLIENT_ID)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the statements instead of running them")
    return parser


if __name__ == "__main__":
    sys.exit(main())
