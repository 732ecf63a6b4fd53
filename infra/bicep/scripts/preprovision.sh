#!/bin/sh
# azd's preprovision hook (azure.yaml): finds this machine's public IPv4 address and stores it in the azd
# environment as CLIENT_IP_ADDRESS, which main.parameters.json passes to main.bicep (clientIpAddress): the
# SQL firewall rule `post-provision-client` is then created in the same deployment as the server, so the
# postprovision step (the SQL user, the migrations) can connect on the very first `azd up`. A value you set
# yourself (`azd env set CLIENT_IP_ADDRESS 203.0.113.7`) is kept; `auto` asks for the lookup again (for a
# machine whose address changed). Without an answer from the lookup it warns and carries on.
set -eu

lookup="${MGRID_IP_LOOKUP_URL:-https://api.ipify.org}"
current="${CLIENT_IP_ADDRESS:-}"
if [ -n "$current" ] && [ "$current" != "auto" ]; then
    echo "preprovision: the SQL firewall admits CLIENT_IP_ADDRESS=$current"
    exit 0
fi

address=$(curl --fail --silent --show-error --max-time 10 "$lookup" 2>/dev/null || true)
if ! printf '%s\n' "$address" | grep -Eq '^([0-9]{1,3}\.){3}[0-9]{1,3}$'; then
    echo "preprovision: could not find this machine's public IPv4 address at $lookup;" \
        "set it for the SQL firewall: azd env set CLIENT_IP_ADDRESS <address>" >&2
    exit 0
fi
azd env set CLIENT_IP_ADDRESS "$address"
echo "preprovision: the SQL firewall will admit this machine, $address (CLIENT_IP_ADDRESS)"
