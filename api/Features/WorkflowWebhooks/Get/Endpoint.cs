using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/workflow-webhooks/{id}", Handle)
            .WithName("WorkflowWebhooks_Get")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Get a workflow webhook")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<WorkflowWebhookOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.WorkflowWebhooks.AsNoTracking().FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        return row is null ? Problems.NotFound($"No workflow webhook with id '{id}'.") : TypedResults.Ok(WorkflowWebhookRules.ToOut(row));
    }
}
