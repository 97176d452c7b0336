using Yarp.ReverseProxy.Configuration;

// A minimal YARP round-robin proxy: every path to the destinations in Destinations (comma-separated URLs).
var builder = WebApplication.CreateBuilder(args);

// Kestrel's default 30 MB body limit, raised to the proxy engine's default Proxy:MaxRequestBodyBytes (100 MiB).
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = 100L * 1024 * 1024);

var destinations = builder.Configuration["Destinations"]!.Split(',')
    .Select((address, i) => (Id: $"d{i}", Config: new DestinationConfig { Address = address }))
    .ToDictionary(d => d.Id, d => d.Config);
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "backends", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig { ClusterId = "backends", LoadBalancingPolicy = "RoundRobin", Destinations = destinations }]);

var app = builder.Build();
app.MapReverseProxy();
app.Run();
