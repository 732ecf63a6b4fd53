"""Make the function app's managed identity a user of the monitoring database: the post-provision step.

Runs `create-sql-user.sql` (beside this file) with its sqlcmd variables filled in, signed in as the Azure
user of the Azure CLI or azd (azure-identity's default chain), who must be the SQL server's Entra admin. The
defaults come from the azd environment, which azd passes to its hooks; outside a hook give them as options:

    .venv/bin/python infra/bicep/scripts/create_sql_user.py \
      --url 'mssql+pyodbc://@<server>.database.windows.net/monitoring?driver=ODBC+Driver+18+for+SQL+Server' \
      --identity-name <identity name> --object-id <identity principal id>

`--dry-run` prints the statements instead of running them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

SQL_FILE = Path(__file__).with_name("create-sql-user.sql")
# Managed identity names: 3-128 letters, digits, hyphens and underscores, starting with a letter or digit.
# Checking them keeps the name from closing the [bracketed] identifier or the N'...' literal it goes into.
_IDENTITY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}")


def render(template: str, *, identity_name: str, object_id: str) -> str:
    """The script with `$(IdentityName)` and `$(ObjectId)` replaced; `ValueError` for a malformed value."""
    if not _IDENTITY_NAME.fullmatch(identity_name):
        raise ValueError(f"not a managed identity name: {identity_name!r}")
    canonical_id = str(uuid.UUID(object_id))
    return template.replace("$(IdentityName)", identity_name).replace("$(ObjectId)", canonical_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [option for option in ("url", "identity_name", "object_id") if not getattr(args, option)]
    if missing:
        names = ", ".join("--" + option.replace("_", "-") for option in missing)
        sys.stderr.write(f"missing {names} (or the azd environment values they default to)\n")
        return 2
    try:
        statements = render(SQL_FILE.read_text(), identity_name=args.identity_name, object_id=args.object_id)
    except ValueError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if args.dry_run:
        sys.stdout.write(statements)
        return 0
    from shared.db.engine import create_monitoring_engine

    engine = create_monitoring_engine(args.url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statements)
    finally:
        engine.dispose()
    sys.stdout.write(f"{args.identity_name} is a user of {engine.url.database} on {engine.url.host}\n")
    return 0


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
        "--object-id",
        default=os.environ.get("AZURE_MANAGED_IDENTITY_PRINCIPAL_ID"),
        help="principal (object) id of the managed identity (default: $AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the statements instead of running them")
    return parser


if __name__ == "__main__":
    sys.exit(main())
