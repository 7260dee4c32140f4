using System.Text;

using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Features.Connections;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Activities;

internal sealed class ActivityOptions
{
    public const string Section = "Activity";

    /// <summary>How often aged batches and due retries are looked for (default 5 s).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Sends each account's activity events to its activity URL as JSON arrays, in the order they
/// were accepted: a batch is cut when enough events wait (batchSize) or the oldest has waited
/// long enough (maxBatchAgeSeconds). One batch per account is open at a time; a failing batch
/// is retried after 1, 2, 4 ... minutes (at most hourly) and everything after it waits.
/// Runs only inside the (clustered, non-concurrent) flush job, so two nodes never cut or send
/// the same account's batches at once.
/// </summary>
internal sealed class ActivityFeed(
    IDbContextFactory<WebhooksDbContext> dbFactory,
    RequestComposer composer,
    WebhookSender sender,
    TimeProvider time,
    ILogger<ActivityFeed> logger)
{
    /// <summary>Bounds one run, so one busy account cannot hold the job for ever.</summary>
    private const int MaxBatchesPerAccountPerRun = 50;

    private static readonly RetrySettings HeadOfLine = RetrySchedule.Resolve(new RetryPolicyIn(RetryKind.Ordered));

    private int _runs;
    private int _started;

    /// <summary>Completed runs on this node, for tests and diagnostics.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Runs begun on this node: a run that began after a moment has finished once <see cref="Runs"/> passes this count taken then.</summary>
    public int Started => Volatile.Read(ref _started);

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _started);
        try
        {
            await FlushAllAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Increment(ref _runs);
        }
    }

    private async Task FlushAllAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var hooks = await db.ActivityWebhooks.AsNoTracking().Where(w => w.Enabled).ToListAsync(cancellationToken);
        foreach (var hook in hooks)
        {
            try
            {
                await FlushAccountAsync(db, hook, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Flushing the activity feed of account {AccountId} failed", hook.AccountId);
            }
        }
    }

    private async Task FlushAccountAsync(WebhooksDbContext db, ActivityWebhook hook, CancellationToken cancellationToken)
    {
        for (var i = 0; i < MaxBatchesPerAccountPerRun; i++)
        {
            db.ChangeTracker.Clear();
            var now = time.GetUtcNow();
            var batch = await db.ActivityBatches
                .Where(b => b.AccountId == hook.AccountId && b.Status == FeedStatuses.Pending)
                .OrderBy(b => b.Id).FirstOrDefaultAsync(cancellationToken)
                ?? await CutBatchAsync(db, hook, now, cancellationToken);
            if (batch is null || batch.NextAttemptAt > now)
            {
                return;
            }

            if (!await SendAsync(db, hook, batch, now, cancellationToken))
            {
                return;
            }
        }
    }

    /// <summary>The next batch, when enough events wait or the oldest has waited long enough.</summary>
    private static async Task<ActivityBatch?> CutBatchAsync(WebhooksDbContext db, ActivityWebhook hook, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var waiting = db.ActivityEvents.Where(e => e.AccountId == hook.AccountId && e.FeedStatus == FeedStatuses.Pending).OrderBy(e => e.Id);
        var ids = await waiting.Take(hook.BatchSize).Select(e => new { e.Id, e.CreatedAt }).ToListAsync(cancellationToken);
        if (ids.Count == 0 || (ids.Count < hook.BatchSize && ids[0].CreatedAt > now.AddSeconds(-hook.MaxBatchAgeSeconds)))
        {
            return null;
        }

        var batch = new ActivityBatch
        {
            Id = Ids.New(now),
            AccountId = hook.AccountId,
            Status = FeedStatuses.Pending,
            EventCount = ids.Count,
            NextAttemptAt = now,
            CreatedAt = now,
        };
        var eventIds = ids.Select(e => e.Id).ToList();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.ActivityBatches.Add(batch);
        await db.SaveChangesAsync(cancellationToken);
        await db.ActivityEvents.Where(e => eventIds.Contains(e.Id))
            .ExecuteUpdateAsync(u => u.SetProperty(e => e.BatchId, batch.Id).SetProperty(e => e.FeedStatus, FeedStatuses.Batched), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return batch;
    }

    private async Task<bool> SendAsync(WebhooksDbContext db, ActivityWebhook hook, ActivityBatch batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var payloads = await db.ActivityEvents.AsNoTracking().Where(e => e.BatchId == batch.Id).OrderBy(e => e.Id).Select(e => e.PayloadJson).ToListAsync(cancellationToken);
        var body = new StringBuilder(payloads.Sum(p => p.Length + 1) + 2).Append('[').AppendJoin(',', payloads).Append(']').ToString();
        var auth = hook.AuthConnectorId is { } authId ? await db.AuthConnectors.AsNoTracking().FirstOrDefaultAsync(a => a.Id == authId, cancellationToken) : null;
        var account = await db.Accounts.AsNoTracking().Where(a => a.Id == hook.AccountId).Select(a => a.Name).FirstAsync(cancellationToken);
        var connection = AsConnection(hook, WebhookMethod.Post);
        var input = new MessageInput([], [], [], hook.AccountId, account, WebhookSigner.NewMessageId(batch.Id), "activity.batch", now);
        var composed = composer.Compose(connection, auth, input, body);
        var result = await sender.SendAsync(composed.Request!, expectJson: false, cancellationToken);

        batch.AttemptCount++;
        batch.FirstAttemptAt ??= now;
        batch.LastStatusCode = result.StatusCode;
        batch.LastError = result.Error;
        var ok = result.Outcome == Outcomes.Ok;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (ok)
        {
            batch.Status = FeedStatuses.Delivered;
            batch.DeliveredAt = now;
            await db.ActivityEvents.Where(e => e.BatchId == batch.Id)
                .ExecuteUpdateAsync(u => u.SetProperty(e => e.FeedStatus, FeedStatuses.Delivered), cancellationToken);
        }
        else
        {
            var next = RetrySchedule.Next(HeadOfLine, batch.AttemptCount, batch.FirstAttemptAt.Value, now, result.RetryAfter, 0);
            batch.NextAttemptAt = next.RetryAt ?? now.AddHours(1);
        }

        var subject = new AttemptSubject(null, null, null, $"activity batch of {batch.EventCount}");
        db.Attempts.Add(AttemptRecorder.Build(connection, composed.Masked, result, null, subject, now, isTest: false, batch.AttemptCount, batch.Id));
        db.ActivityBatches.Update(batch);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return ok;
    }

    /// <summary>The activity URL seen as a connection, so it is composed, signed, sent and logged like one.</summary>
    public static Connection AsConnection(ActivityWebhook hook, WebhookMethod method) => new()
    {
        Id = hook.Id,
        AccountId = hook.AccountId,
        Title = "Activity webhook",
        Url = hook.Url,
        Method = ConnectionRules.MethodName(method),
        HeadersJson = "{}",
        AuthConnectorId = hook.AuthConnectorId,
        BodyFormat = "json",
        TimeoutSeconds = ConnectionRules.DefaultTimeoutSeconds,
        MaxConcurrency = 1,
        RetryPolicyJson = "{\"kind\":\"ordered\"}",
        Status = ConnectionStatuses.Active,
        SigningSecretProtected = hook.SigningSecretProtected,
    };

}
