using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Features.Connections;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

internal sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>How often the health check runs (default 5 min).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a connection may fail before it goes to `error` (default 2 h).</summary>
    public TimeSpan ErrorAfter { get; set; } = TimeSpan.FromHours(2);

    /// <summary>The share of failed attempts over <see cref="ErrorAfter"/> that counts as broken (default 0.5).</summary>
    public double ErrorRateThreshold { get; set; } = 0.5;

    /// <summary>Attempts needed in the window before the error rate is judged (default 10).</summary>
    public int MinimumAttempts { get; set; } = 10;
}

/// <summary>
/// Stops sending to broken endpoints: an active connection with no successful attempt for more
/// than <see cref="HealthOptions.ErrorAfter"/>, or failing more than the threshold over that window,
/// goes to `error` and its waiting deliveries are held (not dropped). Only requests count: a
/// template error (nothing sent) neither fails nor clears a connection. It also expires deliveries
/// held past the hold limit. Automations never wait for any of this.
/// </summary>
internal sealed class HealthMonitor(
    IDbContextFactory<WebhooksDbContext> dbFactory,
    TimeProvider time,
    IOptions<HealthOptions> health,
    IOptions<DispatcherOptions> dispatcher,
    ILogger<HealthMonitor> logger)
{
    private int _runs;
    private int _started;

    /// <summary>Completed runs on this node, for tests and diagnostics.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Runs begun on this node: a run that began after a moment has finished once <see cref="Runs"/> passes this count taken then.</summary>
    public int Started => Volatile.Read(ref _started);

    public async Task<HealthReport> RunAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _started);
        try
        {
            return await CheckAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Increment(ref _runs);
        }
    }

    private async Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var options = health.Value;
        var now = time.GetUtcNow();
        var windowStart = now - options.ErrorAfter;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);

        var down = await db.Connections
            .Where(c => c.Status == ConnectionStatuses.Active && c.FailingSince != null && c.FailingSince <= windowStart)
            .Select(c => new { c.Id, c.FailingSince })
            .ToListAsync(cancellationToken);

        // The window is a range of the time-ordered id (see IdBounds): the primary key reads it.
        // Template errors are left out: no request was sent, so they say nothing of the endpoint.
        // Counted, a template that breaks on some contacts' data, or renders that ran out of time
        // on a busy node, put a connection whose endpoint answered everything in error.
        var rates = await db.Attempts
            .CreatedWithin(windowStart, null)
            .Where(a => !a.IsTest && a.Outcome != Outcomes.TemplateError)
            .GroupBy(a => a.ConnectionId)
            .Select(g => new { ConnectionId = g.Key, Total = g.Count(), Failed = g.Count(a => a.Outcome != Outcomes.Ok) })
            .Where(g => g.Total >= options.MinimumAttempts)
            .ToListAsync(cancellationToken);
        var overThreshold = rates.Where(r => (double)r.Failed / r.Total > options.ErrorRateThreshold).ToList();

        var broken = new Dictionary<Guid, string>();
        foreach (var c in down)
        {
            broken[c.Id] = $"No successful attempt since {c.FailingSince:u} (more than {options.ErrorAfter.TotalHours:0.#} h): sending stopped, deliveries held. Test and activate it to resume.";
        }

        // A flapping endpoint resets FailingSince with every success, so the rate rule judges the
        // whole window instead: over the last two hours, in use since before them, failing more
        // than the threshold.
        var overIds = overThreshold.Select(r => r.ConnectionId).ToList();
        // In use before the window: the id bound lets each connection's (account_id, connection_id, id) range find one in a seek.
        var before = db.Attempts.CreatedWithin(null, windowStart).Where(a => !a.IsTest);
        var activeOver = await db.Connections
            .Where(c => overIds.Contains(c.Id) && c.Status == ConnectionStatuses.Active)
            .Where(c => before.Any(a => a.AccountId == c.AccountId && a.ConnectionId == c.Id))
            .Select(c => c.Id).ToListAsync(cancellationToken);
        foreach (var r in overThreshold.Where(r => activeOver.Contains(r.ConnectionId)))
        {
            broken.TryAdd(r.ConnectionId, $"{r.Failed} of {r.Total} attempts failed in the last {options.ErrorAfter.TotalHours:0.#} h: sending stopped, deliveries held.");
        }

        foreach (var (connectionId, reason) in broken)
        {
            var changed = await db.Connections.Where(c => c.Id == connectionId && c.Status == ConnectionStatuses.Active)
                .ExecuteUpdateAsync(u => u
                    .SetProperty(c => c.Status, ConnectionStatuses.Error)
                    .SetProperty(c => c.StatusReason, reason)
                    .SetProperty(c => c.StatusChangedAt, now)
                    .SetProperty(c => c.UpdatedAt, now), cancellationToken);
            if (changed > 0)
            {
                await DeliveryStore.SettleAsync(db, connectionId, active: false, now, cancellationToken);
                logger.LogWarning("Connection {ConnectionId} put in error: {Reason}", connectionId, reason);
            }
        }

        // A status change whose settle was cut short (the node died midway) is finished here.
        foreach (var (connectionId, active) in await DeliveryStore.UnsettledConnectionsAsync(db, cancellationToken))
        {
            await DeliveryStore.SettleAsync(db, connectionId, active, now, cancellationToken);
        }

        var expired = await DeliveryStore.ExpireHeldAsync(db, now, dispatcher.Value.HoldLimit, cancellationToken);
        return new HealthReport(broken.Count, expired);
    }
}

internal sealed record HealthReport(int ConnectionsPutInError, int DeliveriesExpired);
