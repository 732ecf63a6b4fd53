#!/bin/sh
# azd's postprovision hook (azure.yaml), run from the repository root with the azd environment's values
# (the outputs of main.bicep) in the environment: makes the managed identity a user of the monitoring
# database, then migrates that database. Both steps sign in as the deploying user (az login or azd auth
# login), the SQL server's Entra admin, and need this machine's address in the SQL firewall
# (CLIENT_IP_ADDRESS) and ODBC Driver 18 for SQL Server. Running it again is harmless.
set -eu

python="${MGRID_PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "postprovision: $python not found; create the virtualenv first (make deps, or set MGRID_PYTHON)" >&2
    exit 1
fi

"$python" infra/bicep/scripts/create_sql_user.py
ConnectionStrings__Monitoring="$MONITORING_DATABASE_URL" "$python" -m shared.cli db upgrade
