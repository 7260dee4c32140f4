using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Deliveries.Retry;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/deliveries/{id}/retry", Handle)
            .WithName("Deliveries_Retry")
            .WithTags("Deliveries")
            .WithSummary("Send a delivery again")
            .WithDescription("""
                Queues a finished delivery (failed, succeeded or skipped) again as the same message: the same id and
                `webhook-id`, a new series of attempts under the connection's retry policy. It is `pending` when the
                connection is active, else `held` until it is. 409 while the delivery is still pending, delivering
                or held, or when its connection is deleted.
                """)
            .RequireScopes(Scopes.ConnectionsManage, Scopes.EventsSend)
            .Produces<DeliveryOut>(StatusCodes.Status202Accepted)
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    private static async Task<Results<Accepted<DeliveryOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, DeliverySignals signals, TimeProvider time, CancellationToken cancellationToken)
    {
        var delivery = await db.Deliveries.AsNoTracking().FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        if (delivery is null)
        {
            return Problems.NotFound($"No delivery with id '{id}'.");
        }

        if (!DeliveryReplay.Replayable.Contains(delivery.Status))
        {
            return Problems.Conflict($"The delivery is {delivery.Status}: only a failed, succeeded or skipped delivery can be sent again.");
        }

        var connectionStatus = await db.Connections.Where(c => c.Id == delivery.ConnectionId).Select(c => c.Status).FirstAsync(cancellationToken);
        if (connectionStatus == ConnectionStatuses.Deleted)
        {
            return Problems.Conflict("The delivery's connection is deleted: restore it before sending the delivery again.");
        }

        var queued = await DeliveryReplay.RequeueAsync(db, [delivery.Id], delivery.Status, time.GetUtcNow(), cancellationToken);
        if (queued.Total == 0)
        {
            return Problems.Conflict("The delivery changed meanwhile (another retry, or its connection was deleted): get it and try again.");
        }

        if (queued.Pending > 0)
        {
            signals.NewWork();
        }

        var current = await db.Deliveries.AsNoTracking().FirstAsync(d => d.Id == delivery.Id, cancellationToken);
        return TypedResults.Accepted($"/v1/deliveries/{current.Id}", DeliveryMapping.ToOut(current));
    }
}
