// One private endpoint for one sub-resource (groupId) of a resource, registered in a private DNS zone.

@description('Private endpoint name.')
param name string

@description('Region of the endpoint: the virtual network\'s region (the target may be in another region).')
param location string

@description('Tags for the endpoint.')
param tags object = {}

@description('Subnet that holds the endpoint.')
param subnetId string

@description('Resource ID of the target (storage account, Azure OpenAI account).')
param targetId string

@description('Sub-resource of the target: blob, table, account...')
param groupId string

@description('Private DNS zone the endpoint registers its address in.')
param dnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: dnsZoneId
        }
      }
    ]
  }
}
