// Private-network mode (VNET_ENABLED=true): a virtual network with a subnet the function app integrates into and a
// subnet for private endpoints, plus the private DNS zones that make the storage and Azure OpenAI host names resolve to
// those endpoints inside the network. Public network access to storage and the accounts is then disabled, so only the
// proxy can reach the backends.

@description('Virtual network name.')
param name string

@description('Region of the network (the function app\'s region).')
param location string

@description('Tags for the network resources.')
param tags object = {}

var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// Private DNS zone names for blob, table and Azure OpenAI private endpoints (Azure private endpoint DNS zone values).
var dnsZoneNames = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.table.${environment().suffixes.storage}'
  'privatelink.openai.azure.com'
]

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.0.0.0/16'
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: '10.0.1.0/24'
          // Flex Consumption integrates into a subnet delegated to Microsoft.App/environments (as the Functions
          // quickstart's vnet.bicep does).
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: '10.0.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for zone in dnsZoneNames: {
    name: zone
    location: 'global'
    tags: tags
  }
]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (zone, i) in dnsZoneNames: {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
output privateEndpointSubnetId string = '${vnet.id}/subnets/${privateEndpointSubnetName}'
output blobDnsZoneId string = zones[0].id
output tableDnsZoneId string = zones[1].id
output openAiDnsZoneId string = zones[2].id
