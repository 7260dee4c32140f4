using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// What waits on a commit at synchronous=NORMAL is let go only by a sync of the log that began
/// after it was handed over; a failed sync fails its waiters with SQLite's I/O error and says so.
/// On a file of its own standing in for a database's log (the sync only opens and syncs it).
/// </summary>
public sealed class SqliteLogSyncTests : IAsyncLifetime
{
    private readonly string _database = Path.Combine(Path.GetTempPath(), $"log-sync-{Guid.NewGuid():N}.db");
    private readonly SemaphoreSlim _entered = new(0);
    private readonly ManualResetEventSlim _release = new(true);
    private SqliteLogSync _sync = null!;

    public Task InitializeAsync()
    {
        File.WriteAllBytes(_database + "-wal", new byte[4096]);
        _sync = new SqliteLogSync(_database, NullLogger.Instance)
        {
            BeforeSync = () =>
            {
                _entered.Release();
                _release.Wait();
            },
        };
        return Task.CompletedTask;
    }

    [Fact]
    public async Task What_is_handed_over_during_a_sync_waits_for_the_next_one()
    {
        var (first, second) = await OneSyncingAndOneWaitingAsync();

        Assert.False(first.Done.Task.IsCompleted);
        Assert.Equal(2, _sync.Unsynced);
        _release.Set();

        Assert.Null(await first.Done.Task);
        Assert.Null(await second.Done.Task);
        Assert.Equal(2, _sync.Syncs);
        Assert.Equal(0, _sync.Unsynced);
        Assert.False(_sync.Failed);
    }

    [Fact]
    public async Task Durable_is_complete_at_once_when_everything_is_synced_and_otherwise_after_the_next_sync()
    {
        Assert.True(_sync.DurableAsync().IsCompletedSuccessfully);

        _release.Reset();
        var commit = Waiter();
        _sync.After(commit.Synced);
        await _entered.WaitAsync();
        var durable = _sync.DurableAsync();
        Assert.False(durable.IsCompleted);
        _release.Set();

        await durable;
        Assert.Null(await commit.Done.Task);
        Assert.Equal(2, _sync.Syncs);
        Assert.True(_sync.DurableAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_failed_sync_fails_its_waiters_with_an_io_error_and_the_next_sync_opens_the_log_again()
    {
        var failures = 1;
        _sync.BeforeSync = () =>
        {
            if (Interlocked.Exchange(ref failures, 0) == 1)
            {
                throw new IOException("simulated: the disk refused the sync");
            }
        };

        var failed = Waiter();
        _sync.After(failed.Synced);
        var error = Assert.IsType<SqliteException>(await failed.Done.Task);
        Assert.Equal(10, error.SqliteErrorCode);
        Assert.Contains("simulated: the disk refused the sync", error.Message, StringComparison.Ordinal);
        Assert.True(_sync.Failed);

        var later = Waiter();
        _sync.After(later.Synced);
        Assert.Null(await later.Done.Task);
        Assert.Equal(1, _sync.Syncs);
        Assert.True(_sync.Failed);
    }

    [Fact]
    public async Task A_log_that_is_not_there_fails_the_sync()
    {
        File.Delete(_database + "-wal");

        var waiter = Waiter();
        _sync.After(waiter.Synced);

        Assert.IsType<SqliteException>(await waiter.Done.Task);
        Assert.True(_sync.Failed);
    }

    [Fact]
    public async Task Disposing_syncs_what_still_waits_and_refuses_what_comes_after()
    {
        var (first, second) = await OneSyncingAndOneWaitingAsync();

        var disposed = _sync.DisposeAsync().AsTask();
        Assert.False(disposed.IsCompleted);
        _release.Set();
        await disposed;

        Assert.Null(await first.Done.Task);
        Assert.Null(await second.Done.Task);
        Assert.Throws<ObjectDisposedException>(() => _sync.After(_ => { }));
    }

    public async Task DisposeAsync()
    {
        _release.Set();
        await _sync.DisposeAsync();
        _entered.Dispose();
        _release.Dispose();
        File.Delete(_database + "-wal");
    }

    /// <summary>A commit whose sync is held as it begins, and one handed over during that sync.</summary>
    private async Task<((TaskCompletionSource<Exception?> Done, Action<Exception?> Synced) First, (TaskCompletionSource<Exception?> Done, Action<Exception?> Synced) Second)> OneSyncingAndOneWaitingAsync()
    {
        _release.Reset();
        var first = Waiter();
        _sync.After(first.Synced);
        await _entered.WaitAsync();
        var second = Waiter();
        _sync.After(second.Synced);
        return (first, second);
    }

    private static (TaskCompletionSource<Exception?> Done, Action<Exception?> Synced) Waiter()
    {
        var done = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        return (done, e => done.TrySetResult(e));
    }
}
