using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>An Idempotency-Key's answer, stored in the same transaction as the rows it reports.</summary>
internal sealed record IdempotentAnswer(IdempotencyClaim Claim, int StatusCode, string ContentType, byte[] Body);

internal enum AcceptOutcome
{
    /// <summary>The rows (and the key's answer, if any) are committed.</summary>
    Committed,

    /// <summary>Another request took the Idempotency-Key over: nothing of this request was written.</summary>
    KeyTakenOver,
}

/// <summary>The committer has stopped (the host is shutting down): nothing of the request was written.</summary>
internal sealed class AcceptsClosedException() : InvalidOperationException("The service is shutting down and accepts no new executions.");

/// <summary>
/// Commits accepted executions: group commit on SQLite, one transaction per request on PostgreSQL.
/// <para>
/// Why: SQLite has one writer and every commit is an fsync of the WAL (~2.3 ms on the development
/// disk), so one transaction per executions call capped single-item accepts at ~430/s and queued
/// callers for seconds. Here concurrent calls hand their rows to one writer loop, which writes
/// everything waiting in ONE transaction (one fsync) and then completes every caller.
/// </para>
/// <para>
/// What it guarantees: durability is unchanged (synchronous stays as configured, FULL by default):
/// <see cref="CommitAsync"/> returns only after the transaction holding the caller's rows has
/// committed, so a 202 is never sent for rows that a kill -9 could still lose. A caller's rows and
/// its Idempotency-Key answer commit together or not at all. One request's failure is its own: a
/// key another request took over writes nothing of that request (its caller gets the 409 as
/// before); rows that fail to insert roll the group back, and the group is written again with a
/// SAVEPOINT per request, so only the failing request's caller gets the error. If the transaction
/// itself fails (database busy, disk error) every caller in the group gets the error and nothing
/// was written.
/// On disposal (after the host has stopped serving requests) what is queued is still written
/// before the loop ends; a call after that throws <see cref="AcceptsClosedException"/> (a 503),
/// never a silent drop.
/// </para>
/// PostgreSQL commits concurrent transactions with its own group commit (commit_delay / WAL
/// flush batching), so there each call keeps its own transaction, as before, on the caller's task.
/// </summary>
internal sealed class AcceptCommitter : IAsyncDisposable
{
    /// <summary>A group stops growing past this many rows, so one commit stays short; a single request may exceed it.</summary>
    internal const int MaxRowsPerCommit = 10_000;

    private readonly IDbContextFactory<WebhooksDbContext> _dbFactory;
    private readonly ILogger<AcceptCommitter> _logger;
    private readonly Channel<Pending>? _queue;
    private readonly Task _loop = Task.CompletedTask;
    private long _commits;
    private long _requests;
    private long _queued;
    private volatile bool _closed;

    public AcceptCommitter(IDbContextFactory<WebhooksDbContext> dbFactory, Microsoft.Extensions.Options.IOptions<DatabaseOptions> database, ILogger<AcceptCommitter> logger)
    {
        _dbFactory = dbFactory;
        _logger = logger;
        if (!database.Value.IsPostgres)
        {
            _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
            _loop = Task.Run(RunAsync);
        }
    }

    /// <summary>Transactions committed that held accepted executions (diagnostics and tests; not in the API).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Executions calls whose rows those transactions committed.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Calls handed to the writer loop and not yet answered (SQLite).</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>
    /// Writes <paramref name="rows"/> (and <paramref name="answer"/>, when the call has an
    /// Idempotency-Key) and returns once they are committed. On SQLite the rows are handed to the
    /// writer loop: <paramref name="cancellationToken"/> then only stops the wait, and the rows may
    /// still commit (like an answer lost on the wire; a retry with the same key replays it).
    /// </summary>
    public Task<AcceptOutcome> CommitAsync(IReadOnlyList<WebhookDelivery> rows, IdempotentAnswer? answer, CancellationToken cancellationToken)
    {
        if (_closed)
        {
            throw new AcceptsClosedException();
        }

        if (_queue is null)
        {
            return CommitAloneAsync(rows, answer, cancellationToken);
        }

        var pending = new Pending(rows, answer);
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _queued);
            throw new AcceptsClosedException();
        }

        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        // Everything queued before this point is written by the loop before it ends.
        _closed = true;
        _queue?.Writer.TryComplete();
        await _loop;
    }

    private async Task<AcceptOutcome> CommitAloneAsync(IReadOnlyList<WebhookDelivery> rows, IdempotentAnswer? answer, CancellationToken cancellationToken)
    {
        var pending = new Pending(rows, answer);
        await WriteAsync([pending], cancellationToken);
        return await pending.Done.Task;
    }

    private async Task RunAsync()
    {
        var reader = _queue!.Reader;
        var group = new List<Pending>();
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            var rows = 0;
            while ((group.Count == 0 || rows < MaxRowsPerCommit) && reader.TryPeek(out var next) && (group.Count == 0 || rows + next.Rows.Count <= MaxRowsPerCommit))
            {
                reader.TryRead(out _);
                group.Add(next);
                rows += next.Rows.Count;
            }

            // Not the request's token: once handed over, a group is written whatever its callers do.
            await WriteAsync(group, CancellationToken.None);
            Interlocked.Add(ref _queued, -group.Count);
        }
    }

    /// <summary>Commits the group and completes every request in it.</summary>
    private async Task WriteAsync(IReadOnlyList<Pending> group, CancellationToken cancellationToken)
    {
        try
        {
            if (!await TryWriteTogetherAsync(group, cancellationToken))
            {
                await WriteIsolatedAsync(group, cancellationToken);
            }
        }
        catch (Exception e)
        {
            // Nothing of the group is committed: every caller gets the error (a 503 or 500), none a 202.
            foreach (var pending in group)
            {
                pending.Answer?.Claim.RolledBack();
                pending.Done.TrySetException(e);
            }

            return;
        }

        foreach (var pending in group)
        {
            if (pending.Error is not null)
            {
                pending.Done.TrySetException(pending.Error);
            }
            else
            {
                pending.Done.TrySetResult(pending.Outcome);
            }
        }
    }

    /// <summary>
    /// The common case, cheapest: every row of the group in one transaction, no savepoints. False
    /// when one request's rows failed to insert: the transaction is rolled back and the group is
    /// written again request by request, so the failure can be pinned on its own request.
    /// </summary>
    private async Task<bool> TryWriteTogetherAsync(IReadOnlyList<Pending> group, CancellationToken cancellationToken)
    {
        await using var db = await NewContextAsync(cancellationToken);
        if (group is [{ Answer: null } alone])
        {
            // One call without a key (every call on PostgreSQL).
            await using (var single = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                await DeliveryStore.InsertAsync(db, alone.Rows, cancellationToken);
                await single.CommitAsync(cancellationToken);
            }

            alone.Outcome = AcceptOutcome.Committed;
            Counted(1);
            return true;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var committed = 0;
        var rows = new List<WebhookDelivery>();
        foreach (var pending in group)
        {
            // Taking the answer first: a key lost to a takeover writes nothing, not even its rows.
            if (pending.Answer is { } answer && !await answer.Claim.StoreAsync(db, answer.StatusCode, answer.ContentType, null, answer.Body, cancellationToken))
            {
                pending.Outcome = AcceptOutcome.KeyTakenOver;
                continue;
            }

            pending.Outcome = AcceptOutcome.Committed;
            rows.AddRange(pending.Rows);
            committed++;
        }

        try
        {
            await DeliveryStore.InsertAsync(db, rows, cancellationToken);
        }
        catch (Exception e) when (group.Count > 1 && IsRequestError(e))
        {
            await transaction.RollbackAsync(CancellationToken.None);
            foreach (var pending in group)
            {
                pending.Answer?.Claim.RolledBack();
            }

            return false;
        }

        await transaction.CommitAsync(cancellationToken);
        Counted(committed);
        return true;
    }

    /// <summary>One transaction, a savepoint per request: a request whose rows fail is rolled back alone.</summary>
    private async Task WriteIsolatedAsync(IReadOnlyList<Pending> group, CancellationToken cancellationToken)
    {
        await using var db = await NewContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var committed = 0;
        foreach (var pending in group)
        {
            await transaction.CreateSavepointAsync("accept", cancellationToken);
            try
            {
                if (pending.Answer is { } answer && !await answer.Claim.StoreAsync(db, answer.StatusCode, answer.ContentType, null, answer.Body, cancellationToken))
                {
                    await transaction.RollbackToSavepointAsync("accept", cancellationToken);
                    pending.Outcome = AcceptOutcome.KeyTakenOver;
                    continue;
                }

                await DeliveryStore.InsertAsync(db, pending.Rows, cancellationToken);
                await transaction.ReleaseSavepointAsync("accept", cancellationToken);
                pending.Outcome = AcceptOutcome.Committed;
                committed++;
            }
            catch (Exception e) when (IsRequestError(e))
            {
                // This request alone (a constraint it broke, say): undo it and let the others commit.
                await transaction.RollbackToSavepointAsync("accept", cancellationToken);
                pending.Answer?.Claim.RolledBack();
                pending.Error = e;
                _logger.LogError(e, "Accepting {Rows} execution(s) failed; the {Others} other request(s) of the group are unaffected", pending.Rows.Count, group.Count - 1);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        Counted(committed);
    }

    private async Task<WebhooksDbContext> NewContextAsync(CancellationToken cancellationToken)
    {
        var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        // Rows go in through DeliveryStore.InsertAsync, below EF; only stored answers are tracked.
        db.Database.AutoSavepointsEnabled = false;
        return db;
    }

    /// <summary>An error of the request's own rows, not of the database as a whole (busy, down, cancelled).</summary>
    private static bool IsRequestError(Exception e) => !ExceptionToProblemHandler.IsDatabaseUnavailable(e) && e is not OperationCanceledException;

    private void Counted(int requests)
    {
        if (requests > 0)
        {
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _requests, requests);
        }
    }

    private sealed class Pending(IReadOnlyList<WebhookDelivery> rows, IdempotentAnswer? answer)
    {
        public IReadOnlyList<WebhookDelivery> Rows { get; } = rows;

        public IdempotentAnswer? Answer { get; } = answer;

        public TaskCompletionSource<AcceptOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public AcceptOutcome Outcome { get; set; }

        public Exception? Error { get; set; }
    }
}
