using Microsoft.EntityFrameworkCore;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>How many deliveries a replay queued, by the status they got.</summary>
internal readonly record struct ReplayCount(int Pending, int Held)
{
    public int Total => Pending + Held;

    public static ReplayCount operator +(ReplayCount a, ReplayCount b) => new(a.Pending + b.Pending, a.Held + b.Held);

    public static ReplayCount Add(ReplayCount a, ReplayCount b) => a + b;
}

/// <summary>
/// Sends finished deliveries again. The delivery row is reused, so the `webhook-id` (derived
/// from its id) is the same and a receiver that de-duplicates sees a replay of the same message.
/// A replay is a new attempt series: attempt count and first attempt reset, so the retry policy
/// applies in full again. On an ordered connection the replayed delivery keeps its place in line
/// (its id), so it goes before deliveries accepted after it.
/// </summary>
internal static class DeliveryReplay
{
    /// <summary>The finished statuses a delivery can be replayed from.</summary>
    public static readonly IReadOnlyList<string> Replayable = [DeliveryStatuses.Failed, DeliveryStatuses.Succeeded, DeliveryStatuses.Skipped];

    /// <summary>
    /// Queues the given deliveries that are still in <paramref name="fromStatus"/>: `pending` (due
    /// now) where the connection is active, `held` where it may not be sent to yet (pending test,
    /// error, disabled), as executions are; they resume when it is active again or expire after the
    /// hold limit. Deliveries of deleted connections are left as they are.
    /// </summary>
    /// <remarks>
    /// The connection's status is read inside each UPDATE (not loaded first), so a connection
    /// that changes status meanwhile cannot leave rows pending for a connection in error; and
    /// the status guard makes a concurrent replay of the same rows count once.
    /// </remarks>
    public static async Task<ReplayCount> RequeueAsync(
        WebhooksDbContext db, IReadOnlyCollection<Guid> ids, string fromStatus, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rows = db.Deliveries.Where(d => ids.Contains(d.Id) && d.Status == fromStatus);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var pending = await rows
            .Where(d => db.Connections.Any(c => c.Id == d.ConnectionId && c.Status == ConnectionStatuses.Active))
            .ExecuteUpdateAsync(u => Reset(u, DeliveryStatuses.Pending, now), cancellationToken);
        var held = await rows
            .Where(d => db.Connections.Any(c => c.Id == d.ConnectionId && c.Status != ConnectionStatuses.Active && c.Status != ConnectionStatuses.Deleted))
            .ExecuteUpdateAsync(u => Reset(u, DeliveryStatuses.Held, now), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new ReplayCount(pending, held);
    }

    private static void Reset(Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<WebhookDelivery> u, string status, DateTimeOffset now) => u
        .SetProperty(d => d.Status, status)
        .SetProperty(d => d.NextAttemptAt, now)
        .SetProperty(d => d.AttemptCount, 0)
        .SetProperty(d => d.FirstAttemptAt, (DateTimeOffset?)null)
        .SetProperty(d => d.FailureReason, (string?)null)
        .SetProperty(d => d.CompletedAt, (DateTimeOffset?)null)
        .SetProperty(d => d.ClaimToken, (Guid?)null)
        .SetProperty(d => d.LockedUntil, (DateTimeOffset?)null)
        .SetProperty(d => d.UpdatedAt, now);
}
