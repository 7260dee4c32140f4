using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;

namespace WebhooksApi.Features.Schemas;

/// <summary>
/// Serves the JSON Schemas in schemas/ (the files ingest validates against), so the OpenAPI
/// document can point at them and partners can validate payloads before sending.
/// </summary>
internal sealed class Endpoint : IEndpoint
{
    public static readonly IReadOnlyList<string> Files =
        ["activity-event.schema.json", "activity-batch.schema.json", "workflow-execution.schema.json", "webhook-envelope.schema.json"];

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/schemas/{name}", Handle)
            .WithName("Schemas_Get")
            .WithTags("Schemas")
            .WithSummary("Get a JSON Schema")
            .WithDescription("One of: activity-event.schema.json, activity-batch.schema.json, workflow-execution.schema.json, webhook-envelope.schema.json.")
            .AllowAnonymous()
            .Produces<string>(StatusCodes.Status200OK, "application/schema+json")
            .ProducesNotFound();

    private static Results<PhysicalFileHttpResult, ProblemHttpResult> Handle(string name) =>
        Files.Contains(name, StringComparer.Ordinal)
            ? TypedResults.PhysicalFile(Path.Combine(AppContext.BaseDirectory, "schemas", name), "application/schema+json")
            : Problems.NotFound($"No schema '{name}'.");
}
