using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Delete;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/workflow-webhooks/{id}", Handle)
            .WithName("WorkflowWebhooks_Delete")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Delete a workflow webhook")
            .WithDescription("Deliveries already accepted for it are still delivered and stay readable.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.WorkflowWebhooks.FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No workflow webhook with id '{id}'.");
        }

        db.WorkflowWebhooks.Remove(row);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }
}
