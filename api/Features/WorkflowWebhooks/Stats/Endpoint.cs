using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Features.Stats;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Stats;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/workflow-webhooks/{id}/stats", Handle)
            .WithName("WorkflowWebhooks_Stats")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Delivery stats of a workflow webhook")
            .WithDescription("""
                As for a connection, over this step's deliveries only: counts of the deliveries accepted in [`from`, `to`)
                (default: the last 24 hours) by their status now, unique contacts reached, attempts, success rate,
                latency percentiles, and a `series` by `bucket` (`hour`, default, or `day`; UTC).
                """)
            .RequireScopes(Scopes.LogsRead, Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<StatsOut>, ProblemHttpResult>> Handle(
        string id, DateTimeOffset? from, DateTimeOffset? to, string? bucket, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var step = await db.WorkflowWebhooks.AsNoTracking().FindOwnedAsync(accountId, id, cancellationToken);
        if (step is null)
        {
            return Problems.NotFound($"No workflow webhook with id '{id}'.");
        }

        if (!StatsRange.TryCreate(from, to, bucket, time, out var range, out var problem))
        {
            return problem!;
        }

        return TypedResults.Ok(await DeliveryStats.ComputeAsync(db, accountId, new StatsSubject(IsWorkflowWebhook: true, step.Id), range, cancellationToken));
    }
}
