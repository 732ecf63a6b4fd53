// Azure SQL for the monitoring database, with Entra ID authentication only: there is no SQL login and no
// password anywhere. The deploying user is the server's Entra admin; the app's managed identity gets a
// contained database user after deployment (scripts/create-sql-user.sql), because T-SQL cannot run from
// a template.

@description('SQL server name: lowercase letters, digits and hyphens, globally unique.')
param serverName string

@description('Name of the monitoring database.')
param databaseName string

@description('Azure region.')
param location string

@description('Tags applied to the server and the database.')
param tags object = {}

@description('Display name of the Entra admin (the deploying user); only a label, the object id decides.')
param adminLogin string

@description('Object id of the Entra admin.')
param adminObjectId string

@description('Kind of principal the Entra admin is.')
@allowed([
  'User'
  'Group'
  'Application'
])
param adminPrincipalType string = 'User'

@description('Basic: 5 DTU, 2 GB, a few dollars a month. Serverless: General Purpose, 0.5-1 vCore, billed per second while awake.')
@allowed([
  'Basic'
  'Serverless'
])
param databaseSku string = 'Basic'

@description('Resource id of the Log Analytics workspace that receives the server\'s audit log.')
param logAnalyticsWorkspaceId string

@description('Public IPv4 address allowed through the firewall (the machine that runs the post-provision step); empty for none.')
param clientIpAddress string = ''

var skus = {
  Basic: {
    name: 'Basic'
    tier: 'Basic'
    capacity: 5
  }
  Serverless: {
    name: 'GP_S_Gen5_1'
    tier: 'GeneralPurpose'
    family: 'Gen5'
    capacity: 1
  }
}

var commonDatabaseProperties = {
  collation: 'SQL_Latin1_General_CP1_CI_AS'
  zoneRedundant: false
  requestedBackupStorageRedundancy: 'Local'
}

// Serverless never pauses here anyway: the alert_processor timer queries the database every 30 s. -1
// turns auto-pause off so no connection waits for a resume.
var databaseProperties = {
  Basic: commonDatabaseProperties
  Serverless: union(commonDatabaseProperties, {
    autoPauseDelay: -1
    minCapacity: json('0.5')
  })
}

resource server 'Microsoft.Sql/servers@2023-08-01' = {
  // checkov:skip=CKV_AZURE_113: no virtual network here; Entra-only sign-in and the firewall guard the endpoint (README)
  // checkov:skip=CKV_AZURE_24: audit records go to Log Analytics, whose retention applies; retentionDays is for storage targets (README)
  // checkov:skip=CKV_AZURE_25: threat detection is Microsoft Defender for SQL, a paid plan enabled per subscription (README)
  name: serverName
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminLogin
      sid: adminObjectId
      principalType: adminPrincipalType
      tenantId: subscription().tenantId
    }
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
  // checkov:skip=CKV_AZURE_23: the server's auditing covers every database on it
  // checkov:skip=CKV_AZURE_25: threat detection is Microsoft Defender for SQL, a paid plan enabled per subscription (README)
  // checkov:skip=CKV_AZURE_26: alert e-mail belongs to Defender for SQL (README)
  // checkov:skip=CKV_AZURE_27: alert e-mail belongs to Defender for SQL (README)
  // checkov:skip=CKV_AZURE_229: Basic has no zone redundancy; the database is restored from its automatic backups (README)
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: skus[databaseSku]
  properties: databaseProperties[databaseSku]
}

// Server-level auditing to Log Analytics: sign-ins (successful and failed) and changes to principals,
// roles, permissions and schema. Statement-level groups (BATCH_COMPLETED_GROUP) are left out: the timers
// run queries every 30 s and would fill the workspace with routine traffic.
resource master 'Microsoft.Sql/servers/databases@2023-08-01' existing = {
  // checkov:skip=CKV_AZURE_23: an existing system database, audited by the server's auditing settings
  parent: server
  name: 'master'
}

resource auditDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'sql-audit-to-log-analytics'
  scope: master
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'SQLSecurityAuditEvents'
        enabled: true
      }
    ]
  }
}

resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = {
  parent: server
  name: 'default'
  dependsOn: [
    auditDiagnostics
  ]
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    auditActionsAndGroups: [
      'SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP'
      'FAILED_DATABASE_AUTHENTICATION_GROUP'
      'DATABASE_PRINCIPAL_CHANGE_GROUP'
      'DATABASE_ROLE_MEMBER_CHANGE_GROUP'
      'DATABASE_PERMISSION_CHANGE_GROUP'
      'SCHEMA_OBJECT_CHANGE_GROUP'
    ]
  }
}

// 0.0.0.0 is Azure's convention for "Azure services": the Flex Consumption app has no fixed outbound
// address without a virtual network. This does not open the server to the internet.
resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01' = {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource allowClient 'Microsoft.Sql/servers/firewallRules@2023-08-01' = if (!empty(clientIpAddress)) {
  parent: server
  name: 'post-provision-client'
  properties: {
    startIpAddress: clientIpAddress
    endIpAddress: clientIpAddress
  }
}

output name string = server.name
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
