using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Delete;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/connections/{id}", Handle)
            .WithName("Connections_Delete")
            .WithTags("Connections")
            .WithSummary("Delete a connection")
            .WithDescription("A soft delete: nothing more is sent, workflow steps using it record skips, and it is listed with `status=deleted` until restored. Deleting a deleted connection is a no-op.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var row = await db.Connections.FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No connection with id '{id}'.");
        }

        if (row.Status != ConnectionStatuses.Deleted)
        {
            var now = time.GetUtcNow();
            var before = row.Status;
            row.StatusBeforeDelete = row.Status;
            row.DeletedAt = now;
            row.UpdatedAt = now;
            ConnectionRules.SetStatus(row, ConnectionStatuses.Deleted, "Deleted by the user.", now);
            await db.SaveChangesAsync(cancellationToken);
            await ConnectionRules.MoveDeliveriesAsync(db, row, before, now, cancellationToken);
        }

        return TypedResults.NoContent();
    }
}
