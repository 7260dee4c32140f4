using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Health;

internal sealed record HealthOut(string Status);

/// <summary>Liveness: the process answers. Never touches the database, so a slow database does not get the node killed.</summary>
internal sealed class Liveness : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/healthz", () => TypedResults.Ok(new HealthOut("ok")))
            .WithName("Health_Live")
            .WithTags("Health")
            .WithSummary("Liveness probe")
            .AllowAnonymous();
}

/// <summary>Readiness: the database answers, so accepted work can be stored.</summary>
internal sealed class Readiness : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/readyz", Handle)
            .WithName("Health_Ready")
            .WithTags("Health")
            .WithSummary("Readiness probe")
            .AllowAnonymous()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    private static async Task<Results<Ok<HealthOut>, ProblemHttpResult>> Handle(WebhooksDbContext db, CancellationToken cancellationToken)
    {
        bool reachable;
        try
        {
            reachable = await db.Database.CanConnectAsync(cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            reachable = false;
        }

        return reachable
            ? TypedResults.Ok(new HealthOut("ready"))
            : Problems.Problem(StatusCodes.Status503ServiceUnavailable, Problems.UnavailableType, "Not ready.", "The database cannot be reached.");
    }
}
