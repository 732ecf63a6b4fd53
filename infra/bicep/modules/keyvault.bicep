// Key Vault for the third-party secrets the app cannot replace with its managed identity: the SMTP
// password, the Azure Communication Services connection string and the webhook signing key. The app
// settings reference them (`@Microsoft.KeyVault(...)`); the platform resolves the references with the
// managed identity (`keyVaultReferenceIdentity`, Key Vault Secrets User).
//
// A secret is written only when its parameter is not empty, so a later deployment without the value
// leaves a secret set with `az keyvault secret set` untouched.

@description('Key Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the vault.')
param tags object = {}

@description('Days a deleted vault or secret stays recoverable (purge protection keeps it that long).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Notifications__Smtp__Password; leave empty to manage the secret outside the deployment.')
@secure()
param smtpPassword string = ''

@description('Notifications__Acs__ConnectionString; leave empty to manage the secret outside the deployment.')
@secure()
param acsConnectionString string = ''

@description('Notifications__WebhookSecret; leave empty to manage the secret outside the deployment.')
@secure()
param webhookSecret string = ''

@description('Notifications__AckTokenSecret (signs one-click acknowledgement links); leave empty to manage it outside the deployment.')
@secure()
param ackTokenSecret string = ''

var secretNames = {
  smtpPassword: 'notifications-smtp-password'
  acsConnectionString: 'notifications-acs-connection-string'
  webhookSecret: 'notifications-webhook-secret'
  ackTokenSecret: 'notifications-ack-token-secret'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Key Vault references from an app without a virtual network need the public endpoint (README)
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109 (README)
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  // checkov:skip=CKV_AZURE_41: third-party credentials are rotated at their provider; an expiry date would stop notifications (README)
  // checkov:skip=CKV_AZURE_114: contentType is set; the check does not look inside a conditional resource
  parent: vault
  name: secretNames.smtpPassword
  properties: {
    value: smtpPassword
    contentType: 'text/plain'
  }
}

resource acsConnectionStringSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(acsConnectionString)) {
  // checkov:skip=CKV_AZURE_41: third-party credentials are rotated at their provider; an expiry date would stop notifications (README)
  // checkov:skip=CKV_AZURE_114: contentType is set; the check does not look inside a conditional resource
  parent: vault
  name: secretNames.acsConnectionString
  properties: {
    value: acsConnectionString
    contentType: 'text/plain'
  }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webhookSecret)) {
  // checkov:skip=CKV_AZURE_41: third-party credentials are rotated at their provider; an expiry date would stop notifications (README)
  // checkov:skip=CKV_AZURE_114: contentType is set; the check does not look inside a conditional resource
  parent: vault
  name: secretNames.webhookSecret
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

resource ackTokenSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(ackTokenSecret)) {
  // checkov:skip=CKV_AZURE_41: rotating the key only invalidates links already sent; no expiry date is forced (README)
  // checkov:skip=CKV_AZURE_114: contentType is set; the check does not look inside a conditional resource
  parent: vault
  name: secretNames.ackTokenSecret
  properties: {
    value: ackTokenSecret
    contentType: 'text/plain'
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
output secretNames object = secretNames
