// The proxy: a Flex Consumption (FC1) plan and its function app (dotnet-isolated 10.0), running as the user-assigned
// identity. Every setting the proxy reads is written here as a literal name, so a test can find them with a regex.

@description('Function app name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Region of the plan and the app (must support Flex Consumption).')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('azd service name; azd deploys to the app carrying this azd-service-name tag.')
param serviceName string = 'proxy'

@description('Name of the storage account used for AzureWebJobsStorage, the deployment package and shared state.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Resource ID of the user-assigned identity.')
param identityId string

@description('Client ID of the user-assigned identity.')
param identityClientId string

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for the http scale group (0 = scale to zero).')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('Concurrent HTTP requests per instance before the platform adds an instance.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 64

@description('Object ids or app ids allowed to call the proxy; empty allows any caller of the tenant (main.bicep produces that only on explicit opt-in).')
param allowedCallers array

@description('Origins whose pages may call the proxy from a browser (CORS); empty: no CORS.')
param allowedOrigins array = []

@description('Private-network mode: subnet (delegated to Microsoft.App/environments) the app integrates into; empty: none.')
param virtualNetworkSubnetId string = ''

@description('Extra app settings { NAME: value }, merged over the ones written here (they win on a name clash).')
param extraAppSettings object = {}

@description('Backends created by this deployment: [{ name, endpoint, priority, weight, deployments }].')
param createdBackends array = []

@description('Backends that already exist: [{ name, endpoint, priority, weight }].')
param existingBackends array = []

// Entra ID audience of the tokens callers present (same as Azure OpenAI's, so clients need no change).
var callerTokenAudience = 'https://cognitiveservices.azure.com'

// The Functions host refuses bodies over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (default 104857600) with an empty 500 before
// the proxy sees them. The proxy's own limit (Proxy:MaxRequestBodyBytes, default 100 MiB) must be the one callers meet,
// with its 413 in Azure's error shape, so the host's limit sits well above it (200 MiB). Raise both together.
var hostRequestBodySizeLimit = 200 * 1024 * 1024

// A module parameter is a deploy-time constant inside the module, so the loops below may iterate over it even though
// the caller built it from the outputs of other deployments.
var backends = concat(createdBackends, existingBackends)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Identity-based host storage and telemetry. The settings Flex Consumption deprecates (runtime, extension version,
// content share, run-from-package...; listed in infra/NOTES.md) are left out on purpose: functionAppConfig holds them.
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD;ClientId=${identityClientId}'
  }
  {
    name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT'
    value: string(hostRequestBodySizeLimit)
  }
]

var proxyAuthSettings = [
  {
    name: 'Proxy__Auth__Backend'
    value: 'Identity'
  }
  {
    name: 'Proxy__Auth__IdentityClientId'
    value: identityClientId
  }
  {
    name: 'Proxy__Auth__EntraId__TenantId'
    value: tenant().tenantId
  }
  {
    name: 'Proxy__Auth__EntraId__Audience'
    value: callerTokenAudience
  }
]

var allowedCallerSettings = [
  for (caller, i) in allowedCallers: {
    name: 'Proxy__Auth__EntraId__AllowedCallers__${i}'
    value: caller
  }
]

var allowedOriginSettings = [
  for (origin, i) in allowedOrigins: {
    name: 'Proxy__Cors__AllowedOrigins__${i}'
    value: origin
  }
]

var backendNameSettings = [
  for (backend, i) in backends: {
    name: 'Proxy__Backends__${i}__Name'
    value: backend.name
  }
]

var backendEndpointSettings = [
  for (backend, i) in backends: {
    name: 'Proxy__Backends__${i}__Endpoint'
    value: backend.endpoint
  }
]

var backendPrioritySettings = [
  for (backend, i) in backends: {
    name: 'Proxy__Backends__${i}__Priority'
    value: string(backend.priority)
  }
]

var backendWeightSettings = [
  for (backend, i) in backends: {
    name: 'Proxy__Backends__${i}__Weight'
    value: string(backend.weight)
  }
]

// The deployments each backend serves (those infra created on it); existing backends have none listed: an empty value
// means "serves every deployment".
var backendDeploymentSettings = [
  for (backend, i) in backends: {
    name: 'Proxy__Backends__${i}__Deployments'
    value: join(backend.?deployments ?? [], ',')
  }
]

// siteConfig.appSettings replaces the whole collection on every deployment, so settings added by hand would vanish:
// the extra settings are merged over the generated ones (the quickstart's union), then turned back into { name, value }.
var generatedSettings = concat(hostSettings, proxyAuthSettings, allowedCallerSettings, allowedOriginSettings, backendNameSettings, backendEndpointSettings, backendPrioritySettings, backendWeightSettings, backendDeploymentSettings)
var appSettings = union(toObject(generatedSettings, setting => setting.name, setting => setting.value), extraAppSettings)

// Always-ready instances are billed even when idle; 0 keeps the app scale-to-zero.
var alwaysReadyHttp = [
  {
    name: 'http'
    instanceCount: alwaysReadyHttpInstances
  }
]
var alwaysReady = alwaysReadyHttpInstances > 0 ? alwaysReadyHttp : []

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
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

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
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
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: map(items(appSettings), setting => { name: setting.key, value: string(setting.value) })
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        // .NET 10 isolated worker: a product requirement (see infra/NOTES.md about the documented versions).
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output backends array = backends
