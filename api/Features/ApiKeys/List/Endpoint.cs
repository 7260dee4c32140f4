using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ApiKeys.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/api-keys", Handle)
            .WithName("ApiKeys_List")
            .WithTags("ApiKeys")
            .WithSummary("List API keys")
            .WithDescription("Newest first, revoked keys included (with revokedAt). Never shows a key itself.")
            .RequireScopes(Scopes.Admin)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<ApiKeyOut>>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var accountId = http.User.GetAccountId();
        var query = db.ApiKeys.AsNoTracking().Where(k => k.AccountId == accountId);
        return TypedResults.Ok(await page.NewestFirstAsync(query, ApiKeyOut.From, cancellationToken));
    }
}
