using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/workflow-webhooks", Handle)
            .WithName("WorkflowWebhooks_List")
            .WithTags("WorkflowWebhooks")
            .WithSummary("List workflow webhooks")
            .WithDescription("Newest first; filter by `workflowId` and/or `connectionId`.")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<WorkflowWebhookOut>>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, string? workflowId, string? connectionId, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        // A connectionId that is not one of our ids could never match: say so, as the other lists do.
        var errors = new ValidationErrors();
        workflowId = QueryFilters.Text(errors, "workflowId", workflowId, 200);
        var connection = QueryFilters.Id(errors, "connectionId", connectionId);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var accountId = http.User.GetAccountId();
        var query = db.WorkflowWebhooks.AsNoTracking().Where(w => w.AccountId == accountId);
        if (workflowId is not null)
        {
            query = query.Where(w => w.WorkflowId == workflowId);
        }

        if (connection is { } id)
        {
            query = query.Where(w => w.ConnectionId == id);
        }

        return TypedResults.Ok(await page.NewestFirstAsync(query, WorkflowWebhookRules.ToOut, cancellationToken));
    }
}
