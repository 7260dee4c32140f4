using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Templates.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/templates", Handle)
            .WithName("Templates_List")
            .WithTags("Templates")
            .WithSummary("List templates")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<TemplateOut>>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var accountId = http.User.GetAccountId();
        var query = db.WebhookTemplates.AsNoTracking().Where(t => t.AccountId == accountId);
        return TypedResults.Ok(await page.NewestFirstAsync(query, TemplateMapping.ToOut, cancellationToken));
    }
}
