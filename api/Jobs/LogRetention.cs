using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Persistence;

namespace WebhooksApi.Jobs;

internal sealed class LogsOptions
{
    public const string Section = "Logs";

    /// <summary>Attempts (the request log) older than this many days are deleted (default 28).</summary>
    public int RetentionDays { get; set; } = 28;

    /// <summary>How often the purge runs (default 1 h).</summary>
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted per statement (default 5,000).</summary>
    public int PurgeBatchSize { get; set; } = 5_000;

    /// <summary>
    /// A contact with more deliveries than this has the log's contact filters walk the account's
    /// log newest first, where one with fewer has its attempts sorted (default 5,000; see the
    /// log list's SourcesAsync).
    /// </summary>
    public int ContactSortLimit { get; set; } = 5_000;
}

/// <summary>What one purge removed, and the clock time it ran at.</summary>
internal sealed record RetentionReport(DateTimeOffset RanAt, int AttemptsDeleted, int IdempotencyRecordsDeleted);

/// <summary>
/// Deletes logged attempts past the retention period, and idempotency records past their replay
/// window. Deliveries are not touched: they keep their final status (and attempt count) after
/// their attempts' log rows are gone.
/// </summary>
/// <remarks>
/// Deletes go oldest first in batches (via the created_at index), each its own short statement:
/// a month of backlog on a busy install never becomes one long transaction that holds SQLite's
/// single write lock, or bloats PostgreSQL's WAL, while the dispatcher is trying to write results.
/// </remarks>
internal sealed class LogRetention(
    IDbContextFactory<WebhooksDbContext> dbFactory,
    TimeProvider time,
    IOptions<LogsOptions> options,
    ILogger<LogRetention> logger)
{
    /// <summary>An Idempotency-Key is honoured for a day; after that the key may be reused.</summary>
    public static readonly TimeSpan IdempotencyWindow = TimeSpan.FromHours(24);

    private RetentionReport? _last;

    /// <summary>The last completed run on this node, for tests and diagnostics.</summary>
    public RetentionReport? LastRun => Volatile.Read(ref _last);

    public async Task<RetentionReport> RunAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var logCutoff = now - TimeSpan.FromDays(Math.Max(1, settings.RetentionDays));
        var keyCutoff = now - IdempotencyWindow;
        var batch = Math.Max(1, settings.PurgeBatchSize);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);

        // Oldest first by the time-ordered id, on the primary key (see IdBounds): no index of
        // created_at is written for every attempt only for this daily walk.
        var attempts = await DeleteInBatchesAsync(db.Attempts.CreatedWithin(null, logCutoff).OrderBy(a => a.Id), batch, cancellationToken);
        var keys = await DeleteInBatchesAsync(db.IdempotencyRecords.Where(r => r.CreatedAt < keyCutoff).OrderBy(r => r.CreatedAt), batch, cancellationToken);
        if (attempts > 0 || keys > 0)
        {
            logger.LogInformation("Retention: deleted {Attempts} log entries older than {Cutoff:u} and {Keys} expired idempotency keys", attempts, logCutoff, keys);
        }

        var report = new RetentionReport(now, attempts, keys);
        Volatile.Write(ref _last, report);
        return report;
    }

    private static async Task<int> DeleteInBatchesAsync<T>(IQueryable<T> oldestFirst, int batch, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var deleted = await oldestFirst.Take(batch).ExecuteDeleteAsync(cancellationToken);
            total += deleted;
            if (deleted < batch)
            {
                return total;
            }
        }
    }
}
