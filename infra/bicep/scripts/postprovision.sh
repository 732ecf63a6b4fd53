#!/bin/sh
# azd's postprovision hook (azure.yaml), run from the repository root with the azd environment's values
# (the outputs of main.bicep and what preprovision.sh stored) in the environment: makes the managed identity
# a user of the monitoring database, then migrates that database. Both steps sign in as the deploying
# principal (az login / azd auth login, or a pipeline's service principal), the SQL server's Entra admin, and
# need this machine's address in the SQL firewall and ODBC Driver 18 for SQL Server. Running it again is
# harmless.
set -eu

# A clean checkout has no virtualenv: make one with the app's requirements (the project itself is not
# installed; both steps run from this directory).
python="${MGRID_PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    if [ -n "${MGRID_PYTHON:-}" ]; then
        echo "postprovision: MGRID_PYTHON=$MGRID_PYTHON is not an executable" >&2
        exit 1
    fi
    echo "postprovision: creating .venv with requirements.txt"
    "${PYTHON:-python3}" -m venv .venv
    .venv/bin/python -m pip install --quiet --requirement requirements.txt
fi

# The firewall rule normally comes with the server (main.bicep, from CLIENT_IP_ADDRESS). An older azd that
# did not pass the value preprovision stored to this deployment leaves it out: add it now, before the
# SQL step, when the Azure CLI is here to do it.
if [ -n "${CLIENT_IP_ADDRESS:-}" ] && [ "$CLIENT_IP_ADDRESS" != "auto" ] && command -v az >/dev/null 2>&1; then
    az sql server firewall-rule create --resource-group "$AZURE_RESOURCE_GROUP" \
        --server "$AZURE_SQL_SERVER_NAME" --name post-provision-client \
        --start-ip-address "$CLIENT_IP_ADDRESS" --end-ip-address "$CLIENT_IP_ADDRESS" --output none
fi

"$python" infra/bicep/scripts/create_sql_user.py
ConnectionStrings__Monitoring="$MONITORING_DATABASE_URL" "$python" -m shared.cli db upgrade
