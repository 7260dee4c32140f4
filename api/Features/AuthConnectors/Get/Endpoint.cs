using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/auth-connectors/{id}", Handle)
            .WithName("AuthConnectors_Get")
            .WithTags("AuthConnectors")
            .WithSummary("Get an auth connector")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<AuthConnectorOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.AuthConnectors.AsNoTracking().FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        return row is null ? Problems.NotFound($"No auth connector with id '{id}'.") : TypedResults.Ok(AuthConnectorMapping.ToOut(row));
    }
}
