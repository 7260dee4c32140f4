using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections;

/// <summary>The shared shape of the status-changing operations: load the caller's connection, apply a transition, save.</summary>
internal static class StatusTransition
{
    public delegate ProblemHttpResult? Transition(Connection connection, DateTimeOffset now);

    public static RouteHandlerBuilder MapTransition(this IEndpointRouteBuilder app, string action, string name, string summary, string description, Transition transition) =>
        app.MapPost($"/v1/connections/{{id}}/{action}", async Task<Results<Ok<ConnectionOut>, ProblemHttpResult>> (
                string id, HttpContext http, WebhooksDbContext db, DeliverySignals signals, TimeProvider time, CancellationToken cancellationToken) =>
            {
                var row = await db.Connections.FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
                if (row is null)
                {
                    return Problems.NotFound($"No connection with id '{id}'.");
                }

                var now = time.GetUtcNow();
                var before = row.Status;
                if (transition(row, now) is { } refused)
                {
                    return refused;
                }

                row.UpdatedAt = now;
                await db.SaveChangesAsync(cancellationToken);
                await ConnectionRules.MoveDeliveriesAsync(db, row, before, now, cancellationToken);
                if (row.Status == ConnectionStatuses.Active)
                {
                    signals.NewWork();
                }

                return TypedResults.Ok(ConnectionRules.ToOut(row));
            })
            .WithName(name)
            .WithTags("Connections")
            .WithSummary(summary)
            .WithDescription(description)
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();
}
