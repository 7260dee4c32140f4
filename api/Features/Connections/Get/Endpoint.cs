using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/connections/{id}", Handle)
            .WithName("Connections_Get")
            .WithTags("Connections")
            .WithSummary("Get a connection")
            .WithDescription("Deleted connections are returned too, with status `deleted`.")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<ConnectionOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.Connections.AsNoTracking().FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        return row is null ? Problems.NotFound($"No connection with id '{id}'.") : TypedResults.Ok(ConnectionRules.ToOut(row));
    }
}
