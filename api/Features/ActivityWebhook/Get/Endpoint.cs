using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ActivityWebhook.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/activity-webhook", Handle)
            .WithName("ActivityWebhook_Get")
            .WithTags("ActivityWebhook")
            .WithSummary("Get the account's activity webhook")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<ActivityWebhookOut>, ProblemHttpResult>> Handle(HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var hook = await db.ActivityWebhooks.AsNoTracking().FirstOrDefaultAsync(w => w.AccountId == accountId, cancellationToken);
        return hook is null ? Problems.NotFound("This account has no activity webhook yet: PUT one.") : TypedResults.Ok(ActivityWebhookMapping.ToOut(hook));
    }
}
