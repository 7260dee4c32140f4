using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Features.Stats;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Stats;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/connections/{id}/stats", Handle)
            .WithName("Connections_Stats")
            .WithTags("Connections")
            .WithSummary("Delivery stats of a connection")
            .WithDescription("""
                Counts of the deliveries accepted in [`from`, `to`) (default: the last 24 hours), by their status now,
                unique contacts reached, attempts, success rate and latency percentiles, and a `series` by `bucket`
                (`hour`, default, or `day`; UTC). At most 1,000 buckets per call.
                """)
            .RequireScopes(Scopes.LogsRead, Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<StatsOut>, ProblemHttpResult>> Handle(
        string id, DateTimeOffset? from, DateTimeOffset? to, string? bucket, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var connection = await db.Connections.AsNoTracking().FindOwnedAsync(accountId, id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound($"No connection with id '{id}'.");
        }

        if (!StatsRange.TryCreate(from, to, bucket, time, out var range, out var problem))
        {
            return problem!;
        }

        return TypedResults.Ok(await DeliveryStats.ComputeAsync(db, accountId, new StatsSubject(IsWorkflowWebhook: false, connection.Id), range, cancellationToken));
    }
}
