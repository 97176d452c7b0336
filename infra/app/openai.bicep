// One Azure OpenAI account (a proxy backend) with a chat and an embedding deployment, keyless: local auth is
// disabled and callers need Cognitive Services OpenAI User. The custom subdomain is what makes Entra ID tokens work.

@description('Account name, also used as its custom subdomain (globally unique).')
param name string

@description('Region of this account.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Chat deployment name.')
param chatDeploymentName string

@description('Chat model name, e.g. gpt-5.4-mini.')
param chatModelName string

@description('Chat model version, e.g. 2026-03-17.')
param chatModelVersion string

@description('Chat deployment SKU, e.g. GlobalStandard or Standard.')
param chatSkuName string

@description('Embedding deployment name.')
param embeddingDeploymentName string

@description('Embedding model name, e.g. text-embedding-3-large.')
param embeddingModelName string

@description('Embedding model version, e.g. 1.')
param embeddingModelVersion string

@description('Embedding deployment SKU, e.g. GlobalStandard or Standard.')
param embeddingSkuName string

@description('Capacity of each deployment, in thousands of tokens per minute.')
@minValue(1)
param capacity int

@description('Principal ID of the function app identity (gets Cognitive Services OpenAI User).')
param appPrincipalId string

@description('Object ID of the deploying user or principal; empty to skip its role assignment.')
param userPrincipalId string = ''

@description('Principal type of userPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param userPrincipalType string = 'User'

@description('Private-network mode: subnet for this account\'s private endpoint; empty keeps public network access.')
param privateEndpointSubnetId string = ''

@description('Region of the private endpoint (the virtual network\'s region).')
param privateEndpointLocation string = location

@description('Private DNS zone privatelink.openai.azure.com.')
param privateDnsZoneId string = ''

var privateNetwork = !empty(privateEndpointSubnetId)

// Built-in role definition ID (Azure built-in roles reference, AI + machine learning section).
var cognitiveServicesOpenAIUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetwork ? 'Deny' : 'Allow'
    }
  }
}

resource chat 'Microsoft.CognitiveServices/accounts/deployments@2023-05-01' = {
  parent: account
  name: chatDeploymentName
  sku: {
    name: chatSkuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: chatModelName
      version: chatModelVersion
    }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
}

// Deployments of one account must not be created in parallel (the second one fails while the first is in progress).
resource embedding 'Microsoft.CognitiveServices/accounts/deployments@2023-05-01' = {
  parent: account
  name: embeddingDeploymentName
  sku: {
    name: embeddingSkuName
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: embeddingModelName
      version: embeddingModelVersion
    }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
  dependsOn: [
    chat
  ]
}

resource appOpenAIUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, cognitiveServicesOpenAIUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAIUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource userOpenAIUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(account.id, userPrincipalId, cognitiveServicesOpenAIUser)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAIUser)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

module privateEndpoint 'private-endpoint.bicep' = if (privateNetwork) {
  name: '${name}-pe'
  params: {
    name: 'pe-${name}'
    location: privateEndpointLocation
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: account.id
    groupId: 'account'
    dnsZoneId: privateDnsZoneId
  }
}

output name string = account.name
output location string = account.location
// https://<name>.openai.azure.com/
output endpoint string = account.properties.endpoint
output chatDeploymentName string = chat.name
output embeddingDeploymentName string = embedding.name
