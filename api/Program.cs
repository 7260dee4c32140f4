using WebhooksApi.Activities;
using WebhooksApi.Delivery;
using WebhooksApi.Features;
using WebhooksApi.Http;
using WebhooksApi.Jobs;
using WebhooksApi.OpenApi;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

// Configuration is read once. Reloading on change watches the whole content root, recursively,
// and the default SQLite database lives under it (data/): every WAL write woke the watcher
// thread (3% of the process's CPU under load in the benchmarks). Pass
// --hostBuilder:reloadConfigOnChange=true to have it back.
var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. args]);

builder.AddHttpConventions();
builder.AddPersistence();
builder.AddSecurity();
builder.AddDelivery();
builder.AddActivityFeed();
builder.AddScheduling();
builder.AddOpenApiDocs();

var app = builder.Build();

app.UseHttpConventions();
app.UseSecurity();
app.UseIdempotencyKeys();
app.MapOpenApiDocs();
app.MapFeatures();

await app.MigrateDatabaseAsync();
await app.BootstrapDefaultAccountAsync();
await app.RunAsync();

/// <summary>The entry point; public so integration tests can host the app.</summary>
public partial class Program;
