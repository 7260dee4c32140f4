using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Stats;

internal enum StatsBucket
{
    Hour,
    Day,
}

/// <summary>
/// Latency of the attempts in the range that sent a request (test sends and template errors,
/// which send nothing, are left out), in ms, by the nearest-rank method. Null without attempts.
/// Computed over the most recent 100,000 such attempts when there are more (`samples` says how many).
/// </summary>
internal sealed record LatencyOut(int? P50, int? P95, int? P99, int Samples);

/// <summary>One UTC hour or day: the deliveries accepted in it (by current status) and the attempts made in it.</summary>
internal sealed record StatsPointOut(DateTimeOffset Start, int Deliveries, int Accepted, int Pending, int Failed, int Skipped, int Attempts);

/// <summary>
/// What happened to the deliveries accepted in [from, to), by their status now: `accepted`
/// (succeeded), `pending` (pending, delivering or held), `failed`, `skipped`. `uniqueContacts`
/// counts the distinct contacts among the accepted ones, each known by its contact id, else its
/// email, else its phone (so one person sent once by id and once by email only counts twice).
/// `successRate` is accepted / (accepted + failed), null while none has finished. `attempts` and
/// `latency` cover the requests made in the range (not test sends). `series` has every bucket
/// (whole UTC hours or days) that overlaps the range, oldest first; only the range is counted.
/// </summary>
internal sealed record StatsOut(
    DateTimeOffset From,
    DateTimeOffset To,
    StatsBucket Bucket,
    int Deliveries,
    int UniqueContacts,
    int Accepted,
    int Pending,
    int Failed,
    int Skipped,
    int Attempts,
    double? SuccessRate,
    LatencyOut Latency,
    IReadOnlyList<StatsPointOut> Series);

/// <summary>The deliveries of one connection or one workflow step.</summary>
internal readonly record struct StatsSubject(bool IsWorkflowWebhook, Guid Id)
{
    /// <summary>The column naming the subject, in deliveries and attempts alike (a constant, never input).</summary>
    public string Column => IsWorkflowWebhook ? "workflow_webhook_id" : "connection_id";
}

/// <summary>A validated stats request.</summary>
internal readonly record struct StatsRange(DateTimeOffset From, DateTimeOffset To, StatsBucket Bucket)
{
    public const int MaxBuckets = 1_000;

    public long BucketMicroseconds => Bucket == StatsBucket.Day ? 86_400_000_000L : 3_600_000_000L;

    /// <summary>Defaults: the 24 hours up to now on the app's clock, hourly buckets.</summary>
    public static bool TryCreate(DateTimeOffset? from, DateTimeOffset? to, string? bucket, TimeProvider time, out StatsRange range, out ProblemHttpResult? problem)
    {
        range = default;
        problem = null;
        var errors = new ValidationErrors();
        var size = StatsBucket.Hour;
        if (bucket is not null && (!Enum.TryParse(bucket, ignoreCase: true, out size) || int.TryParse(bucket, out _)))
        {
            errors.Add("bucket", "bucket must be hour or day.");
        }

        // `to` is exclusive: by default one microsecond (the stored precision) past now, so what
        // was accepted at this very instant counts.
        var end = (to ?? time.GetUtcNow().AddTicks(TimeSpan.TicksPerMicrosecond)).ToUniversalTime();
        // Within a day of the calendar's start, the default `from` is that start (a day before would not exist).
        var start = (from ?? (end - DateTimeOffset.MinValue < TimeSpan.FromHours(24) ? DateTimeOffset.MinValue : end.AddHours(-24))).ToUniversalTime();
        QueryFilters.Range(errors, start, end);
        if (!errors.Any)
        {
            var candidate = new StatsRange(start, end, size);
            if (candidate.LastBucket - candidate.FirstBucket + 1 > MaxBuckets)
            {
                errors.Add("to", $"The range spans more than {MaxBuckets} buckets: shorten it or use bucket=day.");
            }

            range = candidate;
        }

        if (errors.Any)
        {
            problem = errors.ToProblem();
            return false;
        }

        return true;
    }

    public long FirstBucket => WebhooksDbContext.ToUnixMicroseconds(From) / BucketMicroseconds;

    /// <summary>`to` is exclusive: the last bucket is the one holding the microsecond before it.</summary>
    public long LastBucket => (WebhooksDbContext.ToUnixMicroseconds(To) - 1) / BucketMicroseconds;

    public DateTimeOffset BucketStart(long bucket) => DateTimeOffset.UnixEpoch.AddTicks(bucket * BucketMicroseconds * TimeSpan.TicksPerMicrosecond);
}

/// <summary>
/// Counts straight from the deliveries and attempts tables (the single source of truth), so
/// they agree with `GET /v1/deliveries` exactly. The grouping by bucket is the one piece of SQL
/// that differs by provider (SQLite stores times as microseconds, PostgreSQL as timestamptz).
/// </summary>
internal static class DeliveryStats
{
    public const int MaxLatencySamples = 100_000;

    public static async Task<StatsOut> ComputeAsync(WebhooksDbContext db, Guid accountId, StatsSubject subject, StatsRange range, CancellationToken cancellationToken)
    {
        var (from, to) = (range.From, range.To);
        // created_at decides; the id bounds let the (…, id) indexes start at `from` and stop at `to`
        // (see IdBounds). With `from` alone, stats for a past week walked every row since.
        var byBucket = await BucketCountsAsync(db, "deliveries", accountId, subject, range, cancellationToken);
        var attemptsByBucket = await BucketCountsAsync(db, "attempts", accountId, subject, range, cancellationToken);

        var deliveries = db.Deliveries.AsNoTracking().Where(d => d.AccountId == accountId).CreatedWithin(from, to);
        deliveries = subject.IsWorkflowWebhook ? deliveries.Where(d => d.WorkflowWebhookId == subject.Id) : deliveries.Where(d => d.ConnectionId == subject.Id);
        var uniqueContacts = await deliveries
            .Where(d => d.Status == DeliveryStatuses.Succeeded)
            .Select(d => d.ContactId != null ? "i:" + d.ContactId : d.Email != null ? "e:" + d.Email : "p:" + d.Phone)
            .Distinct()
            .CountAsync(cancellationToken);

        var attempts = db.Attempts.AsNoTracking().Where(a => a.AccountId == accountId && !a.IsTest).CreatedWithin(from, to);
        attempts = subject.IsWorkflowWebhook ? attempts.Where(a => a.WorkflowWebhookId == subject.Id) : attempts.Where(a => a.ConnectionId == subject.Id);
        var durations = await attempts
            .Where(a => a.Outcome != Outcomes.TemplateError)
            .OrderByDescending(a => a.Id)
            .Select(a => a.DurationMs)
            .Take(MaxLatencySamples)
            .ToListAsync(cancellationToken);
        durations.Sort();

        var series = new List<StatsPointOut>();
        for (var bucket = range.FirstBucket; bucket <= range.LastBucket; bucket++)
        {
            int Count(params string[] statuses) => (int)byBucket.Where(b => b.Bucket == bucket && statuses.Contains(b.Status)).Sum(b => b.Count);
            series.Add(new StatsPointOut(
                range.BucketStart(bucket),
                (int)byBucket.Where(b => b.Bucket == bucket).Sum(b => b.Count),
                Count(DeliveryStatuses.Succeeded),
                Count(DeliveryStatuses.Pending, DeliveryStatuses.Delivering, DeliveryStatuses.Held),
                Count(DeliveryStatuses.Failed),
                Count(DeliveryStatuses.Skipped),
                (int)attemptsByBucket.Where(b => b.Bucket == bucket).Sum(b => b.Count)));
        }

        var accepted = series.Sum(p => p.Accepted);
        var failed = series.Sum(p => p.Failed);
        return new StatsOut(
            from,
            to,
            range.Bucket,
            series.Sum(p => p.Deliveries),
            uniqueContacts,
            accepted,
            series.Sum(p => p.Pending),
            failed,
            series.Sum(p => p.Skipped),
            series.Sum(p => p.Attempts),
            accepted + failed == 0 ? null : Math.Round((double)accepted / (accepted + failed), 4),
            new LatencyOut(Percentile(durations, 50), Percentile(durations, 95), Percentile(durations, 99), durations.Count),
            series);
    }

    /// <summary>Nearest rank: the smallest value with at least p% of the samples at or below it.</summary>
    public static int? Percentile(IReadOnlyList<int> sorted, int p)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Count);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    /// <summary>A row of the grouped counts. Property names are the SQL column aliases.</summary>
    private sealed class BucketCount
    {
        public long Bucket { get; set; }

        public string Status { get; set; } = string.Empty;

        public long Count { get; set; }
    }

    /// <summary>
    /// Rows of <paramref name="table"/> in the range, grouped by bucket (and by status for
    /// deliveries). The bucket is the number of whole hours or days since the Unix epoch, so
    /// buckets are UTC-aligned on both providers and match <see cref="StatsRange.FirstBucket"/>.
    /// </summary>
    private static Task<List<BucketCount>> BucketCountsAsync(
        WebhooksDbContext db, string table, Guid accountId, StatsSubject subject, StatsRange range, CancellationToken cancellationToken)
    {
        var postgres = db.IsPostgres;
        var bucket = postgres
            ? $"floor(extract(epoch FROM created_at) / {range.BucketMicroseconds / 1_000_000})::bigint"
            : $"created_at / {range.BucketMicroseconds}";
        var isAttempts = table == "attempts";
        var status = isAttempts ? "CAST('' AS text)" : "status";
        var notTest = !isAttempts ? string.Empty : postgres ? " AND NOT is_test" : " AND is_test = 0";
        // Only constants are spliced into the text; every value is a parameter.
        var sql = $"SELECT {bucket} AS \"Bucket\", {status} AS \"Status\", COUNT(*) AS \"Count\" FROM {table} "
            + $"WHERE account_id = {{0}} AND {subject.Column} = {{1}} AND created_at >= {{2}} AND created_at < {{3}} AND id >= {{4}} AND id < {{5}}{notTest} "
            + (isAttempts ? "GROUP BY 1" : "GROUP BY 1, 2");
        return db.Database
            .SqlQueryRaw<BucketCount>(sql, db.IdParameter(accountId), db.IdParameter(subject.Id), db.TimestampParameter(range.From), db.TimestampParameter(range.To), db.IdParameter(IdBounds.AtOrAfter(range.From)), db.IdParameter(IdBounds.Before(range.To)))
            .ToListAsync(cancellationToken);
    }
}
