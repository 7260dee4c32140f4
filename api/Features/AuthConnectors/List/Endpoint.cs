using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/auth-connectors", Handle)
            .WithName("AuthConnectors_List")
            .WithTags("AuthConnectors")
            .WithSummary("List auth connectors")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<AuthConnectorOut>>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var accountId = http.User.GetAccountId();
        var query = db.AuthConnectors.AsNoTracking().Where(c => c.AccountId == accountId);
        return TypedResults.Ok(await page.NewestFirstAsync(query, AuthConnectorMapping.ToOut, cancellationToken));
    }
}
