# azd's postprovision hook on Windows (azure.yaml); what postprovision.sh does: a virtualenv with the
# requirements when there is none, the SQL firewall rule if the deployment left it out (with the Azure CLI),
# the managed identity's database user, then the migrations.
$ErrorActionPreference = 'Stop'

$python = if ($env:MGRID_PYTHON) { $env:MGRID_PYTHON } else { '.venv\Scripts\python.exe' }
if (-not (Test-Path $python)) {
    if ($env:MGRID_PYTHON) { Write-Error "postprovision: MGRID_PYTHON=$python does not exist"; exit 1 }
    Write-Host 'postprovision: creating .venv with requirements.txt'
    py -3 -m venv .venv
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    & $python -m pip install --quiet --requirement requirements.txt
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

$ip = $env:CLIENT_IP_ADDRESS
if ($ip -and $ip -ne 'auto' -and (Get-Command az -ErrorAction SilentlyContinue)) {
    az sql server firewall-rule create --resource-group $env:AZURE_RESOURCE_GROUP `
        --server $env:AZURE_SQL_SERVER_NAME --name post-provision-client `
        --start-ip-address $ip --end-ip-address $ip --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

& $python infra\bicep\scripts\create_sql_user.py
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
$env:ConnectionStrings__Monitoring = $env:MONITORING_DATABASE_URL
& $python -m shared.cli db upgrade
exit $LASTEXITCODE
