# azd's preprovision hook on Windows (azure.yaml); what preprovision.sh does: store this machine's public IPv4
# address as CLIENT_IP_ADDRESS for the SQL firewall rule main.bicep creates with the server, unless a value
# other than `auto` is set already. Without an answer from the lookup it warns and carries on.
$ErrorActionPreference = 'Stop'

$lookup = if ($env:MGRID_IP_LOOKUP_URL) { $env:MGRID_IP_LOOKUP_URL } else { 'https://api.ipify.org' }
$current = $env:CLIENT_IP_ADDRESS
if ($current -and $current -ne 'auto') {
    Write-Host "preprovision: the SQL firewall admits CLIENT_IP_ADDRESS=$current"
    exit 0
}

try {
    $address = "$(Invoke-RestMethod -Uri $lookup -TimeoutSec 10)".Trim()
} catch {
    $address = ''
}
if ($address -notmatch '^([0-9]{1,3}\.){3}[0-9]{1,3}$') {
    Write-Warning ("preprovision: could not find this machine's public IPv4 address at $lookup; " +
        'set it for the SQL firewall: azd env set CLIENT_IP_ADDRESS <address>')
    exit 0
}
azd env set CLIENT_IP_ADDRESS $address
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "preprovision: the SQL firewall will admit this machine, $address (CLIENT_IP_ADDRESS)"
