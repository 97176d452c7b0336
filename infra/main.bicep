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
@description('Region of the resource group, function app, storage and monitoring. Only regions with Flex Consumption are allowed (the list of Azure-Samples/functions-quickstart-dotnet-azd; az functionapp list-flexconsumption-locations shows the current one), so a wrong region fails before anything is created.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object ID of the deploying user or service principal (AZURE_PRINCIPAL_ID). Gets data-plane roles to run the proxy locally against the same resources, and is the first entry of the proxy\'s caller allow-list. Empty: no roles, and the allow-list starts with the deploying principal (deployer()).')
param principalId string = ''

@description('Principal type of principalId (AZURE_PRINCIPAL_TYPE): ServicePrincipal when a pipeline deploys with a service principal, otherwise the role assignments fail.')
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

@description('Concurrent HTTP requests per instance before Flex Consumption adds an instance. The proxy mostly waits on backends and holds long streams, so it takes far more than the platform default (16 at 2048 MB); see infra/NOTES.md.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 64

@description('Private-network mode (VNET_ENABLED): a virtual network, the app integrated into it, private endpoints for storage (blob, table) and every created Azure OpenAI account, and public network access disabled on them, so only the proxy reaches the backends. Existing endpoints are not changed.')
param vnetEnabled bool = false

// --- Azure OpenAI backends -------------------------------------------------------------------------------------------

@description('Comma-separated endpoints of existing Azure OpenAI resources, each https://<name>.openai.azure.com/ optionally followed by |priority|weight (e.g. https://a.openai.azure.com/|1|2,https://b.openai.azure.com/|2). When set, no account is created and the proxy uses these; grant the proxy identity Cognitive Services OpenAI User on them yourself.')
param openAiExistingEndpoints string = ''

@description('Comma-separated object ids (oid) or app ids allowed to call the proxy besides the deploying principal, e.g. the chat app\'s managed identity.')
param proxyAllowedCallers string = ''

@description('Explicit opt-in: admit any user, guest or service principal of the tenant that holds a token for Azure OpenAI (no allow-list is written, proxyAllowedCallers is ignored).')
param proxyAllowAnyTenantCaller bool = false

@description('Comma-separated origins whose pages may call the proxy from a browser (CORS), e.g. https://chat.contoso.com. Empty: no CORS.')
param proxyAllowedOrigins string = ''

@description('App settings added to the ones this template writes, as an object { NAME: value } (client keys as Key Vault references, limits...). They survive every azd provision; on a name clash they win. Values may use \${VAR} of the azd environment in main.parameters.json.')
param extraAppSettings object = {}

@description('How many Azure OpenAI accounts to create when no existing endpoints are given.')
@minValue(1)
@maxValue(20)
param openAiAccountCount int = 3

@description('Comma-separated regions for the created accounts; account i goes to region i modulo the list length and is named oai-<token>-<region>-<n>, so moving an account to another region creates a new one. Each region must offer the chosen models and SKUs.')
param openAiLocations string = 'eastus2,swedencentral,westus3'

@description('Capacity of each model deployment, in thousands of tokens per minute.')
@minValue(1)
param openAiCapacity int = 30

@description('Chat model name (default checked against the Azure OpenAI retirement table and Global Standard availability in the default regions: infra/NOTES.md).')
param chatModelName string = 'gpt-5.4-mini'

@description('Chat model version.')
param chatModelVersion string = '2026-03-17'

@description('Chat deployment name (the name clients put in /openai/deployments/<name>/...).')
param chatDeploymentName string = 'gpt-5.4-mini'

@description('Chat deployment SKU.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param chatSkuName string = 'GlobalStandard'

@description('Embedding model name (text-embedding-3-large at 3,072 dimensions is azure-search-openai-demo\'s default).')
param embeddingModelName string = 'text-embedding-3-large'

@description('Embedding model version.')
param embeddingModelVersion string = '1'

@description('Embedding deployment name.')
param embeddingDeploymentName string = 'text-embedding-3-large'

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

// Each item is url[|priority[|weight]]; the backend name is the account name, the first label of the host.
var existingBackends = [
  for item in existingEndpointList: {
    name: split(replace(replace(trim(split(item, '|')[0]), 'https://', ''), 'http://', ''), '.')[0]
    endpoint: endsWith(trim(split(item, '|')[0]), '/') ? trim(split(item, '|')[0]) : '${trim(split(item, '|')[0])}/'
    priority: length(split(item, '|')) > 1 && !empty(trim(split(item, '|')[1])) ? int(trim(split(item, '|')[1])) : 1
    weight: length(split(item, '|')) > 2 && !empty(trim(split(item, '|')[2])) ? int(trim(split(item, '|')[2])) : 1
  }
]

// Account i goes to region i mod n and is the (i / n)-th account there. The region is part of the name: an existing
// account cannot move to another region, so a changed OPENAI_LOCATIONS creates new accounts instead of failing.
var createdAccounts = [
  for i in range(0, createdAccountCount): {
    location: openAiLocationList[i % length(openAiLocationList)]
    name: '${abbrs.cognitiveServicesOpenAI}${resourceToken}-${openAiLocationList[i % length(openAiLocationList)]}-${i / length(openAiLocationList)}'
  }
]

// Callers: the deploying principal plus the listed ones, unless any caller of the tenant is explicitly admitted. An
// empty allow-list means "any caller of the tenant", so it is never produced by accident.
var listedCallers = filter(map(split(proxyAllowedCallers, ','), caller => trim(caller)), caller => !empty(caller))
var deployingPrincipalId = !empty(principalId) ? principalId : deployer().objectId
var allowedCallers = proxyAllowAnyTenantCaller ? [] : union([deployingPrincipalId], listedCallers)
var allowedOrigins = filter(map(split(proxyAllowedOrigins, ','), origin => trim(origin)), origin => !empty(origin))

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

module network './app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
  }
}

module storagePrivateEndpoints './app/private-endpoint.bicep' = [
  for service in (vnetEnabled ? ['blob', 'table'] : []): {
    name: 'storage-${service}-pe'
    scope: rg
    params: {
      name: '${abbrs.networkPrivateEndpoints}${storage.outputs.name}-${service}'
      location: location
      tags: tags
      subnetId: network!.outputs.privateEndpointSubnetId
      targetId: storage.outputs.id
      groupId: service
      dnsZoneId: service == 'blob' ? network!.outputs.blobDnsZoneId : network!.outputs.tableDnsZoneId
    }
  }
]

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
    privateNetwork: vnetEnabled
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
      name: createdAccounts[i].name
      location: createdAccounts[i].location
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
      privateEndpointSubnetId: vnetEnabled ? network!.outputs.privateEndpointSubnetId : ''
      privateEndpointLocation: location
      privateDnsZoneId: vnetEnabled ? network!.outputs.openAiDnsZoneId : ''
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
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    allowedCallers: allowedCallers
    allowedOrigins: allowedOrigins
    extraAppSettings: extraAppSettings
    virtualNetworkSubnetId: vnetEnabled ? network!.outputs.appSubnetId : ''
    createdBackends: [
      for i in range(0, createdAccountCount): {
        name: openAi[i].outputs.name
        endpoint: openAi[i].outputs.endpoint
        priority: 1
        weight: 1
        // What openai.bicep creates on each account: the proxy sends a deployment only to backends serving it.
        deployments: [chatDeploymentName, embeddingDeploymentName]
      }
    ]
    existingBackends: existingBackends
  }
  // With public access off, host storage is reachable only once its private endpoints exist.
  dependsOn: [
    storagePrivateEndpoints
  ]
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

@description('Object ids or app ids the proxy admits (empty: any caller of the tenant, only with PROXY_ALLOW_ANY_TENANT_CALLER=true).')
output PROXY_ALLOWED_CALLER_IDS array = allowedCallers

@description('The proxy identity; grant it Cognitive Services OpenAI User on existing backends.')
output AZURE_PROXY_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_PROXY_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Shared-state storage, for running the proxy locally against the same resources.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
