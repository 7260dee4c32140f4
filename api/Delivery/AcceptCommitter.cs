using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>
/// An Idempotency-Key's answer, stored in the same transaction as the rows it reports; its body
/// already encrypted (<see cref="IdempotencyClaim.Answer"/>), so the writer only runs the statement.
/// </summary>
internal sealed record IdempotentAnswer(IdempotencyClaim Claim, int StatusCode, string ContentType, byte[] ProtectedBody);

internal enum AcceptOutcome
{
    /// <summary>The rows (and the key's answer, if any) are committed.</summary>
    Committed,

    /// <summary>Committed, and every row was handed to this node's dispatcher (none waits pending for a claim).</summary>
    Started,

    /// <summary>Another request took the Idempotency-Key over: nothing of this request was written.</summary>
    KeyTakenOver,
}

/// <summary>The committer has stopped (the host is shutting down): nothing of the request was written.</summary>
internal sealed class AcceptsClosedException() : InvalidOperationException("The service is shutting down and accepts no new executions.");

/// <summary>
/// Commits accepted executions in groups: on SQLite by its one writer, on PostgreSQL by a few writers side by side.
/// <para>
/// Why: SQLite has one writer and every commit is an fsync of the WAL (~2.3 ms on the development
/// disk), so one transaction per executions call capped single-item accepts at ~430/s and queued
/// callers for seconds. Here concurrent calls hand their rows to one writer loop, which writes
/// everything waiting in ONE transaction (one fsync) and then completes every caller.
/// </para>
/// <para>
/// What it guarantees: <see cref="CommitAsync"/> returns only after the transaction holding the
/// caller's rows has committed and the log holding it is synced to disk, so a 202 is never sent
/// for rows that a kill -9 or a power cut could still lose. On the writer's connection the group
/// commits at synchronous=NORMAL and <see cref="SqliteLogSync"/> answers it after an fdatasync of
/// the log on a thread of its own, while the writer goes on with its next round; elsewhere (no
/// WAL, a sync that failed once) a group commits at synchronous=FULL, SQLite's own fsync. A
/// caller's rows and its Idempotency-Key answer commit together or not at all. One request's
/// failure is its own: a key another request took over writes nothing of that request (its
/// caller gets the 409 as before); rows that fail to insert roll the group back, and the group is
/// written again with a SAVEPOINT per request, so only the failing request's caller gets the
/// error. If the transaction itself fails (database busy, disk error) every caller in the group
/// gets the error and nothing was written; if only the log's sync fails, every caller gets the
/// error (a 500) and what committed stays, as with a commit whose own fsync failed.
/// On disposal (after the host has stopped serving requests) what is queued is still written
/// before the loop ends; a call after that throws <see cref="AcceptsClosedException"/> (a 503),
/// never a silent drop.
/// </para>
/// <para>
/// PostgreSQL takes concurrent writers, so there <see cref="Writers"/> loops each write a group
/// at once (<see cref="WriteGroupsAsync"/>); the guarantees are the same, the commit being
/// PostgreSQL's own fsync. Why groups there too: with a transaction per call, on the caller's
/// task, 1,000 single-execution calls/s (issue #8, `latency --provider postgres`, 2 cores shared
/// with the server) ran one INSERT, BEGIN, COMMIT and connection reset per call on as many
/// backends as calls were waiting: the server spent 673 us per insert, the node fell behind
/// (678 calls/s offered) and API p50 reached 10 s. Grouped by 4 writers: ~18 calls a transaction,
/// 2.6 ms per insert statement (~140 us per row), 961-999 calls/s offered, API p50 1.3-2.3 s;
/// with pooled connections no longer reset as well (PersistenceExtensions.WithNpgsqlDefaults),
/// after the benchmark's warm-ups: 998 calls/s offered, API p50 89 ms (9.6 s before both).
/// </para>
/// <para>
/// On SQLite the dispatcher's claims and result writes go through the same loop
/// (<see cref="InTransactionAsync"/>): the process then has one writer for its hot path, and no
/// longer queues three kinds of transactions for SQLite's one write lock.
/// </para>
/// </summary>
internal sealed class AcceptCommitter : IAsyncDisposable
{
    /// <summary>A group stops growing past this many rows, so one commit stays short; a single request may exceed it.</summary>
    internal const int MaxRowsPerCommit = 10_000;

    private readonly IDbContextFactory<WebhooksDbContext> _dbFactory;
    private readonly DeliveryHandoff _handoff;
    private readonly ILogger<AcceptCommitter> _logger;
    private readonly int _writerCacheMiB;
    /// <summary>Calls (and on SQLite the dispatcher's work) waiting for a writer loop.</summary>
    private readonly Channel<Item> _queue;
    private readonly Task _loop = Task.CompletedTask;
    private Thread? _writerThread;
    private WebhooksDbContext? _writer;
    private bool? _writerDurable;
    private volatile SqliteLogSync? _logSync;
    private long _commits;
    private long _requests;
    private long _queued;
    private volatile bool _closed;

    public AcceptCommitter(IDbContextFactory<WebhooksDbContext> dbFactory, Microsoft.Extensions.Options.IOptions<DatabaseOptions> database, DeliveryHandoff handoff, ILogger<AcceptCommitter> logger)
    {
        _dbFactory = dbFactory;
        _handoff = handoff;
        _logger = logger;
        _writerCacheMiB = database.Value.SqliteWriterCacheMiB;
        if (!database.Value.IsPostgres)
        {
            SharesWriter = true;
            _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
            _loop = StartWriter();
        }
        else
        {
            _queue = Channel.CreateUnbounded<Item>();
            // At least 1: AddPersistence refuses to start with less.
            ArgumentOutOfRangeException.ThrowIfLessThan(database.Value.PostgresAcceptWriters, 1);
            Writers = database.Value.PostgresAcceptWriters;
            _loop = Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(() => WriteGroupsAsync(_queue.Reader))));
        }
    }

    /// <summary>Groups written at once: 1 on SQLite (its one writer), <see cref="DatabaseOptions.PostgresAcceptWriters"/> on PostgreSQL.</summary>
    public int Writers { get; } = 1;

    /// <summary>Transactions committed that held accepted executions (diagnostics and tests; not in the API).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Executions calls whose rows those transactions committed.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Calls handed to a writer loop and not yet committed.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>
    /// Writes <paramref name="rows"/> (and <paramref name="answer"/>, when the call has an
    /// Idempotency-Key) and returns once they are committed. The rows are handed to a writer loop:
    /// <paramref name="cancellationToken"/> then only stops the wait, and the rows may still
    /// commit (like an answer lost on the wire; a retry with the same key replays it).
    /// </summary>
    public Task<AcceptOutcome> CommitAsync(IReadOnlyList<WebhookDelivery> rows, IdempotentAnswer? answer, CancellationToken cancellationToken)
    {
        if (_closed)
        {
            throw new AcceptsClosedException();
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

    /// <summary>
    /// True on SQLite, where <see cref="InTransactionAsync"/> hands the dispatcher's writes to the
    /// accepts' one writer loop; false on PostgreSQL, where each keeps its own transaction on the
    /// caller's task (accepts are grouped on both).
    /// </summary>
    public bool SharesWriter { get; }

    /// <summary>
    /// Runs <paramref name="work"/> (the dispatcher's claims and result writes) in a transaction
    /// and returns its result once that transaction has committed. On SQLite the work waits for
    /// the writer's next round: the accepts queued with it commit first, in their own group, then
    /// every work of the round in one transaction. Before, the dispatcher's transactions and the
    /// accept groups each took SQLite's one write lock in turn, on connections of their own: a
    /// claim spent most of its time waiting for the lock (77-85% of the throughput benchmark's
    /// wall time, 54-62 ms a claim), and each connection read again the pages the others changed.
    /// <para>
    /// The work's transaction commits with synchronous=NORMAL: no fsync of its own; it reaches
    /// the disk with the next sync of the log after an accept group (the log is written in order)
    /// or a checkpoint.
    /// What a power cut can lose is delivery progress only (a claim, a result, its attempt row):
    /// the rows go back to pending when their lease runs out and are sent again, which
    /// at-least-once allows. An accept is never committed that way.
    /// </para>
    /// The work runs inside a savepoint when it shares the transaction, so its failure is its own
    /// (its caller gets the exception and nothing it wrote commits); it may run more than once
    /// (a round written again work by work), so it must only write. Once handed over it runs
    /// whatever the caller does; cancelling only stops the wait. On PostgreSQL, and after
    /// disposal, it runs in a transaction of its own on the caller's task.
    /// </summary>
    public Task<T> InTransactionAsync<T>(Func<WebhooksDbContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (SharesWriter && !_closed)
        {
            var item = new Work<T>(work);
            if (_queue.Writer.TryWrite(item))
            {
                return item.Done.Task.WaitAsync(cancellationToken);
            }
        }

        return RunAloneAsync(work, cancellationToken);
    }

    private async Task<T> RunAloneAsync<T>(Func<WebhooksDbContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var db = await NewContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var result = await work(db, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>The writer's log sync (SQLite in WAL mode, once the writer has opened its connection; tests and diagnostics).</summary>
    internal SqliteLogSync? LogSync => _logSync;

    /// <summary>
    /// Completes once every accept committed before the call is on disk: at once on PostgreSQL
    /// and whenever accepts commit with their own fsync. What reads an accept's own writes to
    /// answer for it (a replayed Idempotency-Key answer) waits for this first.
    /// </summary>
    public Task DurableAsync() => _logSync?.DurableAsync() ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        // Everything queued before this point is written by the loop (and synced) before it ends.
        _closed = true;
        _queue.Writer.TryComplete();
        await _loop;
        if (_logSync is not null)
        {
            await _logSync.DisposeAsync();
        }
    }

    /// <summary>
    /// PostgreSQL: one of <see cref="Writers"/> loops, each writing what waits as one
    /// group in a transaction of its own. A call that finds a loop free is written at once, alone;
    /// calls that arrive while every loop is busy wait and commit together.
    /// </summary>
    private async Task WriteGroupsAsync(ChannelReader<Item> reader)
    {
        var group = new List<Item>();
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            TakeGroup(reader, group);
            if (group.Count > 0)
            {
                await WriteAsync(group, CancellationToken.None);
                Interlocked.Add(ref _queued, -group.Count);
            }
        }
    }

    /// <summary>
    /// Takes what waits, up to <see cref="MaxRowsPerCommit"/> rows (a single request may exceed it;
    /// with several readers the request read may not be the one peeked, and a group then passes
    /// the bound by that one).
    /// </summary>
    private static void TakeGroup(ChannelReader<Item> reader, List<Item> group)
    {
        var rows = 0;
        while ((group.Count == 0 || rows < MaxRowsPerCommit) && reader.TryPeek(out var next) && (group.Count == 0 || rows + next.RowCount <= MaxRowsPerCommit) && reader.TryRead(out next))
        {
            group.Add(next);
            rows += next.RowCount;
        }
    }

    /// <summary>
    /// The writer loop runs on a thread of its own, not the thread pool: it is the one writer of
    /// the hot path, and on a busy node each of its steps would otherwise queue behind the
    /// requests' work items. SQLite's "async" calls complete synchronously, so it blocks only on
    /// the queue and on the disk.
    /// </summary>
    private Task StartWriter()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run();
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "SQLite writer",
        };
        _writerThread = thread;
        thread.Start();
        return done.Task;
    }

    private void Run()
    {
        var reader = _queue.Reader;
        var group = new List<Item>();
        try
        {
            while (reader.TryPeek(out _) || reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                group.Clear();
                TakeGroup(reader, group);

                // Not the request's token: once handed over, a group is written whatever its callers do.
                // Accepts first, in a transaction of their own (their callers wait for it), then
                // the dispatcher's work in another (see InTransactionAsync).
                var accepts = group.Where(i => i is Pending).ToList();
                if (accepts.Count > 0)
                {
                    WriteAsync(accepts, CancellationToken.None).GetAwaiter().GetResult();
                }

                if (accepts.Count < group.Count)
                {
                    WriteAsync(group.Where(i => i is Work).ToList(), CancellationToken.None).GetAwaiter().GetResult();
                }

                Interlocked.Add(ref _queued, -accepts.Count);
            }
        }
        finally
        {
            _writer?.Dispose();
        }
    }

    /// <summary>
    /// The context every group of the loop writes with, its connection kept open: statements stay
    /// prepared from one group to the next (see <see cref="RawStatements.KeepPrepared"/>), and
    /// SQLite keeps its page cache. A group that fails closes it; the next one opens a new one.
    /// Outside the loop (PostgreSQL, a call after disposal) each write has a context of its own.
    /// </summary>
    /// <param name="durable">
    /// Whether the transaction's commit must reach the disk before it returns (accepts: a 202
    /// promises it); false for the dispatcher's work alone, on the writer's connection.
    /// </param>
    private async Task<ContextLease> ContextAsync(bool durable, CancellationToken cancellationToken)
    {
        if (Thread.CurrentThread != _writerThread)
        {
            return new ContextLease(await NewContextAsync(cancellationToken), Owned: true);
        }

        _writer ??= await OpenWriterAsync(cancellationToken);
        if (_writerDurable != durable)
        {
            await _writer.Database.ExecuteSqlRawAsync(durable ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;", cancellationToken);
            _writerDurable = durable;
        }

        _writer.ChangeTracker.Clear();
        return new ContextLease(_writer, Owned: false);
    }

    private async Task<WebhooksDbContext> OpenWriterAsync(CancellationToken cancellationToken)
    {
        var db = await NewContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        RawStatements.KeepPrepared(connection);
        await using (var cache = connection.CreateCommand())
        {
            // Negative: a size in KiB, not in pages (see DatabaseOptions.SqliteWriterCacheMiB).
            cache.CommandText = $"PRAGMA cache_size = -{_writerCacheMiB * 1024};";
            await cache.ExecuteNonQueryAsync(cancellationToken);
        }

        _writerDurable = null;
        if (_logSync is not null)
        {
            _logSync.Reopen();
        }
        else if (SqliteCheckpointer.Hook.FileOf((Microsoft.Data.Sqlite.SqliteConnection)connection) is { Length: > 0 } file && await IsWalAsync(connection, cancellationToken))
        {
            _logSync = new SqliteLogSync(file, _logger);
        }

        return db;
    }

    private static async Task<bool> IsWalAsync(System.Data.Common.DbConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        return await command.ExecuteScalarAsync(cancellationToken) is string mode && mode.Equals("wal", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The log sync that answers a group's accepts after their commit, or null when there are none
    /// or their commit must sync on its own (not the writer's thread, no WAL, a sync that failed once).
    /// </summary>
    private async Task<SqliteLogSync?> SyncAfterAsync(bool accepts, CancellationToken cancellationToken)
    {
        if (Thread.CurrentThread != _writerThread || !accepts)
        {
            return null;
        }

        _writer ??= await OpenWriterAsync(cancellationToken);
        return _logSync is { Failed: false } sync ? sync : null;
    }

    /// <summary>The writer's context stops being used after a failure: its connection may be what failed.</summary>
    private void DropWriterContext()
    {
        if (Thread.CurrentThread == _writerThread && _writer is not null)
        {
            _writer.Dispose();
            _writer = null;
        }
    }

    private readonly record struct ContextLease(WebhooksDbContext Db, bool Owned) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Owned ? Db.DisposeAsync() : ValueTask.CompletedTask;
    }

    /// <summary>
    /// Commits the group and completes every request and work in it. Accepts on the writer's
    /// connection commit at synchronous=NORMAL and are answered after the log's next sync
    /// (<see cref="SqliteLogSync"/>), while the writer goes on; elsewhere they commit at FULL.
    /// </summary>
    private async Task WriteAsync(IReadOnlyList<Item> group, CancellationToken cancellationToken)
    {
        var accepts = group.Any(i => i is Pending);
        SqliteLogSync? sync = null;
        try
        {
            sync = await SyncAfterAsync(accepts, cancellationToken);
            var durable = sync is null && accepts;
            if (!await TryWriteTogetherAsync(group, durable, cancellationToken))
            {
                await WriteIsolatedAsync(group, durable, cancellationToken);
            }
        }
        catch (Exception e)
        {
            // Nothing of the group is committed: every caller gets the error (a 503 or 500), none a 202.
            DropWriterContext();
            foreach (var item in group)
            {
                item.Fail(e);
            }

            return;
        }

        if (sync is null)
        {
            foreach (var item in group)
            {
                item.Complete();
            }

            return;
        }

        sync.After(error =>
        {
            foreach (var item in group)
            {
                if (error is null)
                {
                    item.Complete();
                }
                else
                {
                    item.Unconfirmed(error);
                }
            }
        });
    }

    /// <summary>
    /// The common case, cheapest: every row of the group in one transaction, a savepoint only
    /// around work that shares it with others. False when one request's rows failed to insert:
    /// the transaction is rolled back and the group is written again request by request, so the
    /// failure can be pinned on its own request.
    /// </summary>
    private async Task<bool> TryWriteTogetherAsync(IReadOnlyList<Item> group, bool durable, CancellationToken cancellationToken)
    {
        await using var lease = await ContextAsync(durable, cancellationToken);
        var db = lease.Db;
        if (group is [Pending { Answer: null } alone])
        {
            // One call without a key, alone in its group: no savepoint needed to pin a failure on it.
            await using (var single = await db.Database.BeginTransactionAsync(cancellationToken))
            {
                await DeliveryStore.InsertAsync(db, alone.Written(_handoff), cancellationToken);
                await single.CommitAsync(cancellationToken);
            }

            alone.Outcome = AcceptOutcome.Committed;
            Counted(1);
            return true;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var committed = 0;
        var rows = new List<WebhookDelivery>();
        foreach (var item in group)
        {
            if (item is Work work)
            {
                await RunAsync(db, transaction, work, isolated: group.Count > 1, cancellationToken);
                continue;
            }

            var pending = (Pending)item;
            // Taking the answer first: a key lost to a takeover writes nothing, not even its rows.
            if (pending.Answer is { } answer && !await answer.Claim.StoreProtectedAsync(db, answer.StatusCode, answer.ContentType, null, answer.ProtectedBody, cancellationToken))
            {
                pending.Outcome = AcceptOutcome.KeyTakenOver;
                continue;
            }

            pending.Outcome = AcceptOutcome.Committed;
            rows.AddRange(pending.Written(_handoff));
            committed++;
        }

        try
        {
            if (rows.Count > 0)
            {
                await DeliveryStore.InsertAsync(db, rows, cancellationToken);
            }
        }
        catch (Exception e) when (group.Count > 1 && IsRequestError(e))
        {
            await transaction.RollbackAsync(CancellationToken.None);
            foreach (var item in group)
            {
                item.RolledBack();
            }

            return false;
        }

        await transaction.CommitAsync(cancellationToken);
        Counted(committed);
        return true;
    }

    /// <summary>One transaction, a savepoint per request and per work: a request whose rows fail is rolled back alone.</summary>
    private async Task WriteIsolatedAsync(IReadOnlyList<Item> group, bool durable, CancellationToken cancellationToken)
    {
        await using var lease = await ContextAsync(durable, cancellationToken);
        var db = lease.Db;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var committed = 0;
        foreach (var item in group)
        {
            if (item is Work work)
            {
                await RunAsync(db, transaction, work, isolated: true, cancellationToken);
                continue;
            }

            var pending = (Pending)item;
            await transaction.CreateSavepointAsync("accept", cancellationToken);
            try
            {
                if (pending.Answer is { } answer && !await answer.Claim.StoreProtectedAsync(db, answer.StatusCode, answer.ContentType, null, answer.ProtectedBody, cancellationToken))
                {
                    await transaction.RollbackToSavepointAsync("accept", cancellationToken);
                    pending.Outcome = AcceptOutcome.KeyTakenOver;
                    continue;
                }

                await DeliveryStore.InsertAsync(db, pending.Written(_handoff), cancellationToken);
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

    /// <summary>
    /// Runs one work in the group's transaction. Sharing it (<paramref name="isolated"/>), the
    /// work gets a savepoint: whatever it throws rolls back its own writes only and goes to its
    /// caller, and the rest of the group commits.
    /// </summary>
    private static async Task RunAsync(WebhooksDbContext db, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction, Work work, bool isolated, CancellationToken cancellationToken)
    {
        if (!isolated)
        {
            await work.RunAsync(db, cancellationToken);
            return;
        }

        await transaction.CreateSavepointAsync("work", cancellationToken);
        try
        {
            await work.RunAsync(db, cancellationToken);
            await transaction.ReleaseSavepointAsync("work", cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await transaction.RollbackToSavepointAsync("work", cancellationToken);
            db.ChangeTracker.Clear();
            work.Error = e;
        }
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

    /// <summary>What the writer loop takes: an executions call's rows, or a piece of the dispatcher's work.</summary>
    private abstract class Item
    {
        /// <summary>Rows it adds to the group (a group stops growing at <see cref="MaxRowsPerCommit"/>).</summary>
        public abstract int RowCount { get; }

        public Exception? Error { get; set; }

        /// <summary>The group's transaction rolled back to be written again: forget what this item did in it.</summary>
        public abstract void RolledBack();

        /// <summary>The group committed: answer the caller.</summary>
        public abstract void Complete();

        /// <summary>The group failed as a whole: nothing of it committed.</summary>
        public abstract void Fail(Exception e);

        /// <summary>
        /// The group committed but the log's sync failed: the caller gets the error, yet what was
        /// written stays (a key's answer with its rows), as a commit that failed in its own fsync.
        /// </summary>
        public abstract void Unconfirmed(Exception e);
    }

    private sealed class Pending(IReadOnlyList<WebhookDelivery> rows, IdempotentAnswer? answer) : Item
    {
        private Reservation? _reservation;
        private bool _reserved;

        public IReadOnlyList<WebhookDelivery> Rows { get; } = rows;

        public IdempotentAnswer? Answer { get; } = answer;

        public TaskCompletionSource<AcceptOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public AcceptOutcome Outcome { get; set; }

        public override int RowCount => Rows.Count;

        /// <summary>
        /// The rows as they are written: those this node's dispatcher takes (reserved the first
        /// time, kept if the group is written again) already claimed for it.
        /// </summary>
        public IReadOnlyList<WebhookDelivery> Written(DeliveryHandoff handoff)
        {
            if (!_reserved)
            {
                _reserved = true;
                _reservation = handoff.Reserve(Rows);
            }

            return _reservation?.Rows ?? Rows;
        }

        public override void RolledBack() => Answer?.Claim.RolledBack();

        public override void Complete()
        {
            var started = EndReservation();
            if (Error is not null)
            {
                Done.TrySetException(Error);
            }
            else
            {
                Done.TrySetResult(started ? AcceptOutcome.Started : Outcome);
            }
        }

        public override void Fail(Exception e)
        {
            _reservation?.Cancel();
            Answer?.Claim.RolledBack();
            Done.TrySetException(e);
        }

        /// <summary>
        /// Committed, but its caller gets the error: the rows are written, so they are sent, as
        /// pending rows would be claimed (a retry by the caller may send them twice: at least once).
        /// </summary>
        public override void Unconfirmed(Exception e)
        {
            EndReservation();
            Done.TrySetException(e);
        }

        /// <summary>
        /// Starts the handed-over rows when this request's rows committed, gives their room back
        /// when they did not; true when every row of the request was handed over and started.
        /// </summary>
        private bool EndReservation()
        {
            if (_reservation is not { } reservation)
            {
                return false;
            }

            if (Error is null && Outcome == AcceptOutcome.Committed)
            {
                reservation.Start();
                return reservation.All;
            }

            reservation.Cancel();
            return false;
        }
    }

    private abstract class Work : Item
    {
        public override int RowCount => 0;

        public abstract Task RunAsync(WebhooksDbContext db, CancellationToken cancellationToken);
    }

    private sealed class Work<T>(Func<WebhooksDbContext, CancellationToken, Task<T>> work) : Work
    {
        private T? _result;

        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task RunAsync(WebhooksDbContext db, CancellationToken cancellationToken)
        {
            Error = null;
            _result = await work(db, cancellationToken);
        }

        public override void RolledBack() => _result = default;

        public override void Complete()
        {
            if (Error is not null)
            {
                Done.TrySetException(Error);
            }
            else
            {
                Done.TrySetResult(_result!);
            }
        }

        public override void Fail(Exception e) => Done.TrySetException(e);

        public override void Unconfirmed(Exception e) => Done.TrySetException(e);
    }
}
