using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Deliveries.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/deliveries/{id}", Handle)
            .WithName("Deliveries_Get")
            .WithTags("Deliveries")
            .WithSummary("Get a delivery")
            .WithDescription("Its status, attempts so far, next attempt, and the last response (parsed JSON when the step captures responses).")
            .RequireScopes(Scopes.LogsRead, Scopes.EventsSend, Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<DeliveryOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var row = await db.Deliveries.AsNoTracking().FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        return row is null ? Problems.NotFound($"No delivery with id '{id}'.") : TypedResults.Ok(DeliveryMapping.ToOut(row));
    }
}
