// MonitoringGrid Functions on Azure: a resource group holding a Flex Consumption function app, its host
// storage (queues, timer locks, deployment package), Azure SQL for the monitoring database, Key Vault for
// third-party secrets, Log Analytics and Application Insights with the dashboard, all reached with one
// user-assigned managed identity. No storage key, SQL password or instrumentation-key-only ingestion
// exists anywhere. Subscription scope so that `azd up` and `az deployment sub create` create the group.
targetScope = 'subscription'

@description('Name of the environment (azd env name); it names the resource group and seeds every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of every resource.')
@minLength(1)
param location string

@description('Object id of the deploying user: Entra admin of the SQL server and Key Vault Secrets Officer.')
@minLength(36)
@maxLength(36)
param principalId string

@description('Kind of principal the deployer is (User for a person, ServicePrincipal for a pipeline).')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Display name of the SQL server\'s Entra admin (the deployer); a label, the object id decides.')
@minLength(1)
param sqlAdminLogin string

@description('SKU of the monitoring database.')
@allowed([
  'Basic'
  'Serverless'
])
param sqlDatabaseSku string = 'Basic'

@description('Public IPv4 address of the machine that runs the post-provision step, allowed through the SQL firewall; empty for none.')
param clientIpAddress string = ''

@description('Memory of each function app instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the function app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('KPI sources: source name -> SQLAlchemy URL or @Microsoft.KeyVault(...) reference (ConnectionStrings__Sources__<name>).')
@secure()
param sourceConnectionStrings object = {}

@description('App settings that replace the defaults, for example {"Notifications__Smtp__Host": "smtp.example.com"}.')
param appSettingOverrides object = {}

@description('SMTP password, stored in Key Vault; empty leaves the secret as it is.')
@secure()
param smtpPassword string = ''

@description('Azure Communication Services connection string, stored in Key Vault; empty leaves the secret as it is.')
@secure()
param acsConnectionString string = ''

@description('Webhook signing key, stored in Key Vault; empty leaves the secret as it is.')
@secure()
param webhookSecret string = ''

@description('Key signing one-click acknowledgement links, stored in Key Vault; empty leaves the secret as it is.')
@secure()
param ackTokenSecret string = ''

@description('Client id of the Entra ID app registration for App Service Authentication (sign-in to the status page and API); empty for none (function keys only).')
param authClientId string = ''

@description('Entra ID tenant of that app registration; empty for the subscription\'s tenant.')
param authTenantId string = ''

@description('Address the dashboard\'s alert rules notify; empty for none.')
param alertEmail string = ''

@description('Name of the resource group; empty for rg-<environmentName>.')
param resourceGroupName string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'monitoringgrid'
}

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-mgrid-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-mgrid-${resourceToken}'
    applicationInsightsName: 'appi-mgrid-${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    smtpPassword: smtpPassword
    acsConnectionString: acsConnectionString
    webhookSecret: webhookSecret
    ackTokenSecret: ackTokenSecret
  }
}

module sql 'modules/sql.bicep' = {
  name: 'sql'
  scope: rg
  params: {
    serverName: 'sql-mgrid-${resourceToken}'
    databaseName: 'monitoring'
    location: location
    tags: tags
    adminLogin: sqlAdminLogin
    adminObjectId: principalId
    adminPrincipalType: (principalType == 'ServicePrincipal') ? 'Application' : principalType
    databaseSku: sqlDatabaseSku
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    clientIpAddress: clientIpAddress
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  // The host needs its storage roles when it first starts, and Key Vault references resolve on start.
  dependsOn: [
    rbac
  ]
  params: {
    name: 'func-mgrid-${resourceToken}'
    planName: 'plan-mgrid-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    sqlServerFqdn: sql.outputs.fullyQualifiedDomainName
    sqlDatabaseName: sql.outputs.databaseName
    keyVaultName: keyVault.outputs.name
    secretNames: keyVault.outputs.secretNames
    sourceConnectionStrings: sourceConnectionStrings
    appSettingOverrides: appSettingOverrides
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    authClientId: authClientId
    authTenantId: empty(authTenantId) ? subscription().tenantId : authTenantId
  }
}

module dashboard 'modules/dashboard.bicep' = {
  name: 'dashboard'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'mgrid-${environmentName}'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    functionAppId: functionApp.outputs.id
    functionAppName: functionApp.outputs.name
    alertEmail: alertEmail
  }
}

// azd stores these in the environment (.azure/<env>/.env) and passes them to the hooks.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_SQL_SERVER_NAME string = sql.outputs.name
output AZURE_SQL_SERVER_FQDN string = sql.outputs.fullyQualifiedDomainName
output AZURE_SQL_DATABASE_NAME string = sql.outputs.databaseName
output MONITORING_DATABASE_URL string = 'mssql+pyodbc://@${sql.outputs.fullyQualifiedDomainName}/${sql.outputs.databaseName}?driver=ODBC+Driver+18+for+SQL+Server'
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
