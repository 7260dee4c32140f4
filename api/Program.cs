using WebhooksApi.Activities;
using WebhooksApi.Delivery;
using WebhooksApi.Features;
using WebhooksApi.Http;
using WebhooksApi.Jobs;
using WebhooksApi.OpenApi;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

var builder = WebApplication.CreateBuilder(args);

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
