// Placeholder so the skeleton (and the test project that references it) builds; the standalone host replaces it.
var app = WebApplication.CreateBuilder(args).Build();
await app.RunAsync();
