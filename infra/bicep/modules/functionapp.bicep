// The Flex Consumption plan and the function app (Python 3.11) with every app setting the code reads.
//
// Flex Consumption takes the runtime, scale and deployment source from `functionAppConfig` and rejects
// the settings that used to carry them, so none of FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
// WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENT*, SCM_DO_BUILD_DURING_DEPLOYMENT, ENABLE_ORYX_BUILD,
// FUNCTIONS_WORKER_PROCESS_COUNT, WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT appears here, nor alwaysOn,
// linuxFxVersion or functionAppScaleLimit in siteConfig.

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags applied to the plan and the app (the app also gets azd-service-name).')
param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Blob endpoint of the host storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Queue endpoint of the host storage account.')
param storageQueueEndpoint string

@description('Table endpoint of the host storage account.')
param storageTableEndpoint string

@description('Blob container the plan deploys the app package from.')
param deploymentContainerName string

@description('Connection string of the Application Insights component.')
param applicationInsightsConnectionString string

@description('Fully qualified domain name of the Azure SQL server.')
param sqlServerFqdn string

@description('Name of the monitoring database.')
param sqlDatabaseName string

@description('Name of the Key Vault holding the notification secrets.')
param keyVaultName string

@description('Secret names in the Key Vault: smtpPassword, acsConnectionString, webhookSecret, ackTokenSecret.')
param secretNames object

@description('KPI sources: source name -> SQLAlchemy URL or Key Vault reference; each becomes ConnectionStrings__Sources__<name>.')
@secure()
param sourceConnectionStrings object = {}

@description('App settings that replace the defaults below (for example Notifications__Smtp__Host).')
param appSettingOverrides object = {}

@description('Application (client) id of the Entra ID app registration people sign in with (App Service Authentication); empty: no sign-in, function keys only.')
param authClientId string = ''

@description('Entra ID tenant of that app registration.')
param authTenantId string = subscription().tenantId

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// Every setting of the settings table (docs/settings.md), with the code's default, except where Azure needs its
// own value. Empty means unset to the app (app settings cannot hold null). The timer schedules have flat
// names (KpiSchedulerSchedule, ...) because the triggers bind them as %KpiSchedulerSchedule%: the platform
// resolves a flat app setting name in every case, a %Worker:X:Y% name only through the host's configuration
// (docs/settings.md: Timer schedules).
var defaultSettings = {
  Worker__KpiMonitoring__IntervalSeconds: '60'
  Worker__KpiMonitoring__MaxParallelKpis: '5'
  Worker__KpiMonitoring__ExecutionTimeoutSeconds: '300'
  Worker__KpiMonitoring__ProcessOnlyActiveKpis: 'true'
  Worker__KpiMonitoring__SkipRunningKpis: 'true'
  Worker__KpiMonitoring__ResendAfterSeconds: '600'
  Worker__KpiMonitoring__MaxAttempts: '3'
  Worker__KpiMonitoring__ExecutionBatchSize: ''
  Worker__KpiMonitoring__ExecutionBatchParallelism: '16'
  KpiSchedulerSchedule: '0 * * * * *'
  Worker__ScheduledTasks__Enabled: 'true'
  CleanupSchedule: '0 0 2 * * *'
  MaintenanceSchedule: '0 0 3 * * 0'
  Worker__ScheduledTasks__HistoricalDataRetentionDays: '90'
  Worker__ScheduledTasks__LogRetentionDays: '30'
  Worker__ScheduledTasks__CleanupBatchSize: '5000'
  Worker__ScheduledTasks__CleanupTimeBudgetSeconds: '600'
  Worker__ScheduledTasks__MaintenanceTimeBudgetSeconds: '1800'
  Worker__HealthChecks__IntervalSeconds: '300'
  Worker__HealthChecks__TimeoutSeconds: '30'
  Worker__HealthChecks__CheckDatabase: 'true'
  Worker__HealthChecks__CheckKpiExecution: 'true'
  Worker__HealthChecks__CheckAlertProcessing: 'true'
  Worker__HealthChecks__CheckQueues: 'true'
  Worker__HealthChecks__StaleGraceMinutes: '10'
  Worker__HealthChecks__FailureRatioDegradedPercent: '20'
  Worker__HealthChecks__FailureRatioUnhealthyPercent: '50'
  Worker__HealthChecks__MinimumExecutions: '5'
  Worker__HealthChecks__HeartbeatUnhealthySeconds: '300'
  Worker__HealthChecks__OutboxDegradedSeconds: '300'
  Worker__HealthChecks__QueueDepthDegraded: '1000'
  HealthCheckSchedule: '0 */5 * * * *'
  Worker__AlertProcessing__IntervalSeconds: '30'
  Worker__AlertProcessing__BatchSize: '100'
  Worker__AlertProcessing__EnableEscalation: 'true'
  Worker__AlertProcessing__EscalationTimeoutMinutes: '60'
  Worker__AlertProcessing__EnableAutoResolution: 'true'
  Worker__AlertProcessing__AutoResolutionTimeoutMinutes: '120'
  Worker__AlertProcessing__OutboxGraceSeconds: '60'
  AlertProcessorSchedule: '*/30 * * * * *'
  Worker__Logging__MinimumLevel: 'Information'
  Worker__Logging__Format: 'text'
  Notifications__Email__Enabled: 'true'
  Notifications__Smtp__Host: ''
  Notifications__Smtp__Port: '587'
  Notifications__Smtp__Username: ''
  Notifications__Smtp__From: 'monitoringgrid@localhost'
  Notifications__Smtp__Security: 'starttls'
  Notifications__Smtp__TimeoutSeconds: '30'
  Notifications__Sms__Enabled: 'true'
  Notifications__Sms__Mode: 'acs'
  Notifications__Sms__Gateway: ''
  Notifications__Acs__From: ''
  Notifications__Teams__Enabled: 'true'
  Notifications__Slack__Enabled: 'true'
  Notifications__Webhook__Enabled: 'true'
  Notifications__AdminContact: ''
  Notifications__AllowHttpLoopback: 'false'
  Notifications__AllowPrivateTargets: 'false'
  Notifications__HttpTimeoutSeconds: '10'
  Notifications__SendAttempts: '3'
  Notifications__MaxDeliveryAttempts: '9'
  Notifications__RetryBackoffSeconds: '60'
  Notifications__PublicBaseUrl: ''
  Notifications__AckTokenTtlHours: '72'
}

// Values that exist only in Azure. AzureWebJobsStorage itself is deliberately absent: a connection string
// would need an account key, and shared keys are disabled on the account. The host and the app's queue
// client reach storage through the identity-based AzureWebJobsStorage__* settings instead.
var azureSettings = {
  // No login in the URL: each connection gets an Entra ID token for the identity named by AZURE_CLIENT_ID.
  ConnectionStrings__Monitoring: 'mssql+pyodbc://@${sqlServerFqdn}/${sqlDatabaseName}?driver=ODBC+Driver+18+for+SQL+Server'
  AZURE_CLIENT_ID: identityClientId
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  // The host reads this and ingests with the identity (local auth is disabled on the component); the app's
  // exporter is given the same identity's credential by shared/telemetry.py.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // One path per record: the app exports its own `mgrid` logs, metrics and custom events; the worker must
  // not set up a second exporter (README: Deployment hardening, Application Insights).
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'false'
  // Secrets are references the platform resolves with keyVaultReferenceIdentity; the values stay in the vault.
  Notifications__Smtp__Password: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.smtpPassword})'
  Notifications__Acs__ConnectionString: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.acsConnectionString})'
  Notifications__WebhookSecret: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.webhookSecret})'
  Notifications__AckTokenSecret: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.ackTokenSecret})'
}

// siteConfig.appSettings takes a list of name/value pairs.
var namedSettings = union(defaultSettings, azureSettings, appSettingOverrides)
var namedSettingList = [
  for setting in items(namedSettings): {
    name: setting.key
    value: setting.value
  }
]
var sourceSettingList = [
  for source in items(sourceConnectionStrings): {
    name: 'ConnectionStrings__Sources__${source.key}'
    value: source.value
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is optional on Flex Consumption and not offered in every region (README)
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates would lock out the anonymous health endpoint and key-based HTTP functions (README)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances itself; numberOfWorkers does not apply (README)
  // checkov:skip=CKV_AZURE_213: App Service health check is not a Flex Consumption feature; an alert rule watches /api/health (README)
  // checkov:skip=CKV_AZURE_222: the HTTP functions (health, metrics, the management API, the status page) are called from outside (README)
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'functions'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(namedSettingList, sourceSettingList)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments (azd, az functionapp deploy) authenticate with Entra ID; publishing passwords are not needed.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication (Easy Auth) with Entra ID: people sign in instead of handling function keys.
// Every request but the excluded paths needs a signed-in user or an Entra token: unauthenticated calls get
// 401. The health endpoint stays anonymous for probes; the status page's shell (static, no data) is
// excluded so it can send people to /.auth/login/aad when the API answers 401. With this on, the platform
// sets WEBSITE_AUTH_ENABLED for the app, which then serves the API without a function key (a browser has
// none) and records the signed-in user as the actor (docs/api.md, "Trust model").
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/health'
        '/api/dashboard'
        '/api/dashboard/*'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            authClientId
            'api://${authClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
