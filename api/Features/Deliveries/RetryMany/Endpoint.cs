using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Deliveries.RetryMany;

/// <summary>
/// Which deliveries to send again; the filters combine. `status` is failed (default), succeeded or
/// skipped. `from` (inclusive) and `to` (exclusive, default now) bound when the deliveries were accepted.
/// </summary>
internal sealed record DeliveriesRetryIn(
    string? ConnectionId = null,
    string? WorkflowWebhookId = null,
    DeliveryStatus? Status = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null);

/// <summary>How many deliveries were queued again: `pending` ones are sent now, `held` ones when their connection is active.</summary>
internal sealed record DeliveriesRetryOut(int Retried, int Pending, int Held);

internal sealed class Endpoint : IEndpoint
{
    /// <summary>Rows per UPDATE: each batch is a short transaction, so the dispatcher and API keep writing in between.</summary>
    public const int BatchSize = 1_000;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/deliveries/retry", Handle)
            .WithName("Deliveries_RetryMany")
            .WithTags("Deliveries")
            .WithSummary("Send matching deliveries again")
            .WithDescription("""
                Queues every delivery matching the filter again, as `POST /v1/deliveries/{id}/retry` does for one
                (deliveries of deleted connections are left out), and returns how many. With an `Idempotency-Key`,
                a repeat returns the first answer instead of queueing them again.
                """)
            .RequireScopes(Scopes.ConnectionsManage, Scopes.EventsSend)
            .Idempotent()
            .Produces<DeliveriesRetryOut>(StatusCodes.Status202Accepted)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Accepted<DeliveriesRetryOut>, ProblemHttpResult>> Handle(
        DeliveriesRetryIn? request, HttpContext http, WebhooksDbContext db, DeliverySignals signals, TimeProvider time, CancellationToken cancellationToken)
    {
        request ??= new DeliveriesRetryIn();
        // PostgreSQL's timestamptz takes UTC values only; the caller may give any offset.
        request = request with { From = request.From?.ToUniversalTime(), To = request.To?.ToUniversalTime() };
        var accountId = http.User.GetAccountId();
        var errors = new ValidationErrors();
        var status = (request.Status ?? DeliveryStatus.Failed).ToString().ToLowerInvariant();
        if (!DeliveryReplay.Replayable.Contains(status))
        {
            errors.Add("status", "status must be failed, succeeded or skipped: only finished deliveries are sent again.");
        }

        Guid? connectionId = null;
        if (request.ConnectionId is not null)
        {
            connectionId = Guid.TryParse(request.ConnectionId, out var id) && await db.Connections.AnyAsync(c => c.Id == id && c.AccountId == accountId, cancellationToken) ? id : null;
            if (connectionId is null)
            {
                errors.Add("connectionId", $"No connection with id '{request.ConnectionId}'.");
            }
        }

        Guid? stepId = null;
        if (request.WorkflowWebhookId is not null)
        {
            stepId = Guid.TryParse(request.WorkflowWebhookId, out var id) && await db.WorkflowWebhooks.AnyAsync(w => w.Id == id && w.AccountId == accountId, cancellationToken) ? id : null;
            if (stepId is null)
            {
                errors.Add("workflowWebhookId", $"No workflow webhook with id '{request.WorkflowWebhookId}'.");
            }
        }

        QueryFilters.Range(errors, request.From, request.To);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var query = db.Deliveries.Where(d => d.AccountId == accountId && d.Status == status);
        // Deliveries accepted after the call began are not part of it, so the walk ends.
        // (`from` starts the keyset walk below, so only `to` is bounded here.)
        query = request.To is { } to ? query.CreatedWithin(null, to) : query.Where(d => d.CreatedAt <= now);
        if (connectionId is { } c)
        {
            query = query.Where(d => d.ConnectionId == c);
        }

        if (stepId is { } s)
        {
            query = query.Where(d => d.WorkflowWebhookId == s);
        }

        var last = Guid.Empty;
        if (request.From is { } from)
        {
            query = query.Where(d => d.CreatedAt >= from);
            last = IdBounds.AtOrAfter(from);
        }

        // Keyset walk in id order: each batch starts after the last id seen, so rows that were
        // not queued (a deleted connection) or that finish again meanwhile are never revisited.
        var total = new ReplayCount(0, 0);
        var first = true;
        while (true)
        {
            var after = last;
            var batch = first
                ? await query.Where(d => d.Id.CompareTo(after) >= 0).OrderBy(d => d.Id).Select(d => d.Id).Take(BatchSize).ToListAsync(cancellationToken)
                : await query.Where(d => d.Id.CompareTo(after) > 0).OrderBy(d => d.Id).Select(d => d.Id).Take(BatchSize).ToListAsync(cancellationToken);
            first = false;
            if (batch.Count == 0)
            {
                break;
            }

            var queued = await DeliveryReplay.RequeueAsync(db, batch, status, now, cancellationToken);
            if (queued.Pending > 0)
            {
                // Sending starts with the first batch, not after the last.
                signals.NewWork();
            }

            total += queued;
            last = batch[^1];
        }

        return TypedResults.Accepted((string?)null, new DeliveriesRetryOut(total.Total, total.Pending, total.Held));
    }
}
