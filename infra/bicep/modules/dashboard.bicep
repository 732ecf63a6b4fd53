// The dashboard users open (an Application Insights workbook) and the alert rules on the app itself: the
// health endpoint failing, no KPI executions for a while, and poisoned queue messages.

@description('Region of the workbook, the availability test and the log alert rules.')
param location string

@description('Tags for every resource.')
param tags object

@description('Base name of the resources.')
param name string

@description('Resource id of the workspace-based Application Insights component the app exports to.')
param applicationInsightsId string

// The rules and the workbook query the Application Insights component, which reads this workspace itself.
@description('Resource id of the Log Analytics workspace behind Application Insights.')
#disable-next-line no-unused-params
param logAnalyticsWorkspaceId string

@description('Resource id of the function app.')
param functionAppId string

@description('Name of the function app.')
param functionAppName string

@description('Address the alert rules email; no action group is created when empty.')
param alertEmail string = ''

@description('Minutes without a finished KPI execution before the rule fires; keep it above the shortest KPI period.')
@allowed([10, 15, 30, 45, 60, 120, 180, 240, 360])
param noExecutionsMinutes int = 15

@description('Availability test locations probing the health endpoint.')
@minLength(1)
param availabilityTestLocations array = [
  'us-va-ash-azr' // East US
  'emea-nl-ams-azr' // West Europe
  'apac-sg-sin-azr' // Southeast Asia
]

// The portal links an availability test, and its alert, to the component through this tag. Built with json()
// because pycep, which checks these templates offline, cannot lex an interpolated object key.
var hiddenLink = json('{"hidden-link:${applicationInsightsId}": "Resource"}')
var actionGroupIds = empty(alertEmail) ? [] : [actionGroup.id]
var metricAlertActions = empty(alertEmail) ? [] : [{ actionGroupId: actionGroup.id }]
var healthTestName = '${name}-health'

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
  scope: resourceGroup(split(functionAppId, '/')[2], split(functionAppId, '/')[4])
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, name, 'workbook')
  location: location
  tags: union(tags, { 'hidden-title': 'MonitoringGrid (${name})' })
  kind: 'shared'
  properties: {
    displayName: 'MonitoringGrid (${name})'
    category: 'workbook'
    description: 'KPI executions, durations, alerts, notifications, health and function failures.'
    sourceId: applicationInsightsId
    version: 'Notebook/1.0'
    serializedData: string(union(loadJsonContent('dashboard.workbook.json'), {
      fallbackResourceIds: [applicationInsightsId]
    }))
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${name}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mgrid'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// An outside-in probe rather than a query on `requests`: it also fails when no host answers at all (stopped
// app, failed deployment, platform outage), when there would be no request row to query. GET /api/health
// answers 503 only when Unhealthy, so Degraded does not page.
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: healthTestName
  location: location
  tags: union(tags, hiddenLink)
  kind: 'standard'
  properties: {
    SyntheticMonitorId: healthTestName
    Name: 'MonitoringGrid health endpoint'
    Description: 'GET /api/health expects 200; 503 means Unhealthy.'
    Enabled: true
    Kind: 'standard'
    Frequency: 300
    Timeout: 60
    // One retry absorbs a cold start of the Flex Consumption app.
    RetryEnabled: true
    Locations: [for locationId in availabilityTestLocations: { Id: locationId }]
    Request: {
      RequestUrl: 'https://${functionApp.properties.defaultHostName}/api/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
      FollowRedirects: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-health-failing'
  location: 'global'
  tags: union(tags, hiddenLink)
  properties: {
    description: 'The health endpoint answered something other than 200 (503: a check is Unhealthy) or nothing, from at least two probe locations.'
    severity: 1
    enabled: true
    scopes: [
      healthTest.id
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: applicationInsightsId
      failedLocationCount: min(2, length(availabilityTestLocations))
    }
    autoMitigate: true
    actions: metricAlertActions
  }
}

// The counter is exported as deltas: a row is one process's executions of one KPI and outcome in one export
// interval, and an interval without executions exports none. So no row in the window means no execution,
// and counting rows (0 when the query returns nothing) fires on exactly that.
resource noExecutionsAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${name}-no-kpi-executions'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${name}: no KPI executions'
    description: 'No KPI execution finished in ${noExecutionsMinutes} minutes: the scheduler, the kpi-executions queue or the executor has stopped.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${noExecutionsMinutes}M'
    criteria: {
      allOf: [
        {
          query: '''
customMetrics
| where name == "mgrid.kpi.executions"
'''
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

// The poison handlers drain their queues at once (they record the failure and tell the administrator), so
// the health check's `queues` gauge, sampled every five minutes, seldom sees a poisoned message; each
// invocation of a poison handler is one, and the function names are stable.
resource poisonAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${name}-poison-messages'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${name}: poisoned queue messages'
    description: 'A kpi-executions or alert-events message failed every attempt and reached its poison queue.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '''
requests
| where operation_Name in ("kpi_executions_poison", "alert_events_poison")
| summarize poisoned = sum(itemCount) by operation_Name
'''
          timeAggregation: 'Total'
          metricMeasureColumn: 'poisoned'
          dimensions: [
            {
              name: 'operation_Name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

output workbookId string = workbook.id
output healthTestId string = healthTest.id
output alertRuleIds array = [
  healthAlert.id
  noExecutionsAlert.id
  poisonAlert.id
]
