using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors.Delete;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/auth-connectors/{id}", Handle)
            .WithName("AuthConnectors_Delete")
            .WithTags("AuthConnectors")
            .WithSummary("Delete an auth connector")
            .WithDescription("Refused with 409 while any connection (deleted ones included: they can be restored) uses it.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    private static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = await db.AuthConnectors.FindOwnedAsync(accountId, id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No auth connector with id '{id}'.");
        }

        var users = await db.Connections.Where(c => c.AccountId == accountId && c.AuthConnectorId == row.Id).Select(c => c.Id).Take(5).ToListAsync(cancellationToken);
        if (users.Count > 0)
        {
            return Problems.Conflict($"The auth connector is used by connection(s) {string.Join(", ", users)}. Point them elsewhere (or remove their auth) first.");
        }

        db.AuthConnectors.Remove(row);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }
}
