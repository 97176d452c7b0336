targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------------------
// Azure OpenAI load-balancing proxy on Azure Functions Flex Consumption, keyless end to end.
// `azd up` creates: resource group rg-<env>, a user-assigned identity, storage (shared keys off), Log Analytics and
// Application Insights (local auth off), N Azure OpenAI accounts (local auth off) unless existing endpoints are given,
// and the FC1 plan + function app. `azd down --purge --force` removes all of it.
// ---------------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and seeds the unique resource token.')
param environmentName string

@minLength(1)
@description('Region of the resource group, function app, storage and monitoring. Must support Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object ID of the deploying user (AZURE_PRINCIPAL_ID). Gets data-plane roles to run the proxy locally against the same resources. Empty: none.')
param principalId string = ''

@description('Principal type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

// --- Flex Consumption scale -----------------------------------------------------------------------------------------

@description('Memory of each function app instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the function app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for the http scale group. 0 keeps scale-to-zero (no idle cost, first request after idle pays a cold start); 1 or more removes cold starts and is billed while idle.')
@minValue(0)
param alwaysReadyHttpInstances int = 0

// --- Azure OpenAI backends -------------------------------------------------------------------------------------------

@description('Comma-separated endpoints of existing Azure OpenAI resources (https://<name>.openai.azure.com/). When set, no account is created and the proxy uses these; grant the proxy identity Cognitive Services OpenAI User on them yourself.')
param openAiExistingEndpoints string = ''

@description('Comma-separated object ids (oid) or app ids of the callers allowed to use the proxy (e.g. the chat app\'s managed identity). Empty: any caller of the tenant with a token for Azure OpenAI.')
param proxyAllowedCallers string = ''

@description('How many Azure OpenAI accounts to create when no existing endpoints are given.')
@minValue(1)
@maxValue(20)
param openAiAccountCount int = 3

@description('Comma-separated regions for the created accounts; account i goes to region i modulo the list length. Each region must offer the chosen models and SKUs.')
param openAiLocations string = 'eastus2,swedencentral,westus3'

@description('Capacity of each model deployment, in thousands of tokens per minute.')
@minValue(1)
param openAiCapacity int = 30

@description('Chat model name.')
param chatModelName string = 'gpt-4o-mini'

@description('Chat model version.')
param chatModelVersion string = '2024-07-18'

@description('Chat deployment name (the name clients put in /openai/deployments/<name>/...).')
param chatDeploymentName string = 'gpt-4o-mini'

@description('Chat deployment SKU.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param chatSkuName string = 'GlobalStandard'

@description('Embedding model name.')
param embeddingModelName string = 'text-embedding-3-small'

@description('Embedding model version.')
param embeddingModelVersion string = '1'

@description('Embedding deployment name.')
param embeddingDeploymentName string = 'text-embedding-3-small'

@description('Embedding deployment SKU.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param embeddingSkuName string = 'GlobalStandard'

// --- Names -----------------------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

// --- Backends --------------------------------------------------------------------------------------------------------

var existingEndpointList = filter(map(split(openAiExistingEndpoints, ','), endpoint => trim(endpoint)), endpoint => !empty(endpoint))
var createOpenAi = empty(existingEndpointList)
var createdAccountCount = createOpenAi ? openAiAccountCount : 0
var requestedOpenAiLocations = filter(map(split(openAiLocations, ','), region => toLower(trim(region))), region => !empty(region))
var openAiLocationList = empty(requestedOpenAiLocations) ? [location] : requestedOpenAiLocations

// The backend name is the account name: the first label of https://<name>.openai.azure.com/.
var existingBackends = [
  for endpoint in existingEndpointList: {
    name: split(replace(replace(endpoint, 'https://', ''), 'http://', ''), '.')[0]
    endpoint: endsWith(endpoint, '/') ? endpoint : '${endpoint}/'
    priority: 1
    weight: 1
  }
]

// --- Resources -------------------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity './app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module openAi './app/openai.bicep' = [
  for i in range(0, createdAccountCount): {
    name: 'openai-${i}'
    scope: rg
    params: {
      name: '${abbrs.cognitiveServicesOpenAI}${resourceToken}-${i}'
      location: openAiLocationList[i % length(openAiLocationList)]
      tags: tags
      chatDeploymentName: chatDeploymentName
      chatModelName: chatModelName
      chatModelVersion: chatModelVersion
      chatSkuName: chatSkuName
      embeddingDeploymentName: embeddingDeploymentName
      embeddingModelName: embeddingModelName
      embeddingModelVersion: embeddingModelVersion
      embeddingSkuName: embeddingSkuName
      capacity: openAiCapacity
      appPrincipalId: identity.outputs.principalId
      userPrincipalId: principalId
      userPrincipalType: principalType
    }
  }
]

module proxy './app/proxy.bicep' = {
  name: 'proxy'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'proxy'
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    allowedCallers: filter(map(split(proxyAllowedCallers, ','), caller => trim(caller)), caller => !empty(caller))
    createdBackends: [
      for i in range(0, createdAccountCount): {
        name: openAi[i].outputs.name
        endpoint: openAi[i].outputs.endpoint
        priority: 1
        weight: 1
      }
    ]
    existingBackends: existingBackends
  }
}

// --- Outputs (azd writes them to .azure/<env>/.env) ------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = proxy.outputs.name

@description('The proxy root URL.')
output PROXY_URL string = 'https://${proxy.outputs.defaultHostName}'

@description('For clients that take an Azure OpenAI endpoint and call /openai/deployments/... (AzureOpenAI azure_endpoint).')
output AZURE_OPENAI_CUSTOM_URL string = 'https://${proxy.outputs.defaultHostName}/'

@description('For clients that take an OpenAI base_url and call the v1 API.')
output AZURE_OPENAI_CUSTOM_URL_V1 string = 'https://${proxy.outputs.defaultHostName}/openai/v1'

@description('Backends the proxy balances over: [{ name, endpoint, priority, weight }].')
output AZURE_OPENAI_BACKENDS array = proxy.outputs.backends

output AZURE_OPENAI_CHAT_DEPLOYMENT string = chatDeploymentName
output AZURE_OPENAI_EMBEDDING_DEPLOYMENT string = embeddingDeploymentName

@description('The proxy identity; grant it Cognitive Services OpenAI User on existing backends.')
output AZURE_PROXY_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_PROXY_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Shared-state storage, for running the proxy locally against the same resources.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
