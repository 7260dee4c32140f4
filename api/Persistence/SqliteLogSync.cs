using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace WebhooksApi.Persistence;

/// <summary>
/// Makes commits durable after they return: the writer commits at synchronous=NORMAL (SQLite
/// writes the transaction's frames to the write-ahead log and returns, no fsync) and hands what
/// waits on the commit here; a thread of its own syncs the log (fdatasync) and then lets it go.
/// One sync covers every commit written before it started, so commits that arrive during a sync
/// share the next one.
/// <para>
/// Why: with synchronous=FULL the one writer (AcceptCommitter) held SQLite's write lock through
/// the fsync of every accept group: ~2.1 ms of each ~2.4 ms accept round, ~46% of its wall time
/// at 1,000 executions/s, and every claim, result write and later accept queued behind it (issue
/// #8's latency target). Here the writer goes on with its next round while the disk syncs.
/// </para>
/// <para>
/// What it keeps: a caller is answered only after a sync that began after its commit returned,
/// so a 202 still means the rows survive a power cut. An fsync of any descriptor of a file
/// writes back all of that file's data, so syncing a descriptor of our own is syncing what SQLite
/// wrote; the frames of a commit are overwritten only after a checkpoint has copied them into the
/// database file and synced it, as SQLite's checkpoints at NORMAL do. Readers on other
/// connections see a commit as soon as it returns, before its sync: like a 202 lost on the wire,
/// a power cut in that window loses a row a reader saw but no caller was promised (a replayed
/// Idempotency-Key answer waits for <see cref="DurableAsync"/>). When the log was first created,
/// its directory entry is synced too, as SQLite does at FULL.
/// </para>
/// <para>
/// A sync that fails fails what waited on it (a 500: the disk failed, the rows may or may not
/// survive) and <see cref="Failed"/> turns on: the writer goes back to synchronous=FULL for good,
/// and SQLite's own commits report the disk's state from then on.
/// </para>
/// </summary>
internal sealed partial class SqliteLogSync : IAsyncDisposable
{
    private readonly string _logFile;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<Action<Exception?>> _waiting = [];
    private FileStream? _log;
    private bool _reopen = true;
    private bool _closed;
    private long _handed;
    private long _synced;
    private long _syncs;
    private volatile bool _failed;

    /// <param name="databaseFile">The database file as SQLite names it; its log is this name and "-wal".</param>
    public SqliteLogSync(string databaseFile, ILogger logger)
    {
        _logFile = databaseFile + "-wal";
        _logger = logger;
        new Thread(Run) { IsBackground = true, Name = "SQLite log sync" }.Start();
    }

    /// <summary>Syncs of the log done (tests and diagnostics).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>Commits and waits handed over and not yet answered by a sync (tests and diagnostics).</summary>
    public long Unsynced
    {
        get
        {
            lock (_gate)
            {
                return _handed - _synced;
            }
        }
    }

    /// <summary>A sync has failed: commits must sync on their own (synchronous=FULL) from now on.</summary>
    public bool Failed => _failed;

    /// <summary>Runs on the syncer's thread before each sync (tests: hold the sync, fail it).</summary>
    internal Action? BeforeSync { get; set; }

    /// <summary>
    /// Called right after a commit at synchronous=NORMAL returned: <paramref name="synced"/> runs
    /// once a sync begun after this call has finished, with null, or with the exception it failed
    /// with. Runs on the syncer's thread: it must only hand results over, not block.
    /// </summary>
    public void After(Action<Exception?> synced)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _waiting.Add(synced);
            _handed++;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Completes once every commit handed over before the call is on disk (at once if all are).</summary>
    public Task DurableAsync()
    {
        lock (_gate)
        {
            if (_synced == _handed || _closed)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Add(error =>
            {
                if (error is null)
                {
                    done.TrySetResult();
                }
                else
                {
                    done.TrySetException(error);
                }
            });
            _handed++;
            Monitor.Pulse(_gate);
            return done.Task;
        }
    }

    /// <summary>
    /// The writer opened a new connection: the log's file may have been deleted and created again
    /// meanwhile (SQLite deletes it when its last connection closes), so the next sync opens it anew.
    /// </summary>
    public void Reopen()
    {
        lock (_gate)
        {
            _reopen = true;
        }
    }

    /// <summary>Syncs what is still waiting, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _closed = true;
            Monitor.Pulse(_gate);
        }

        await _stopped.Task;
    }

    private void Run()
    {
        var spare = new List<Action<Exception?>>();
        try
        {
            while (true)
            {
                List<Action<Exception?>> batch;
                bool reopen;
                lock (_gate)
                {
                    while (_waiting.Count == 0 && !_closed)
                    {
                        Monitor.Wait(_gate);
                    }

                    if (_waiting.Count == 0)
                    {
                        break;
                    }

                    (batch, _waiting) = (_waiting, spare);
                    (reopen, _reopen) = (_reopen, false);
                }

                var error = Sync(reopen);
                lock (_gate)
                {
                    _synced += batch.Count;
                }

                foreach (var synced in batch)
                {
                    synced(error);
                }

                batch.Clear();
                spare = batch;
            }
        }
        finally
        {
            _log?.Dispose();
            _stopped.TrySetResult();
        }
    }

    private SqliteException? Sync(bool reopen)
    {
        try
        {
            BeforeSync?.Invoke();
            if (reopen || _log is null)
            {
                _log?.Dispose();
                _log = new FileStream(_logFile, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
                SyncDirectory(Path.GetDirectoryName(_logFile)!);
            }

            SyncData(_log);
            Interlocked.Increment(ref _syncs);
            return null;
        }
        catch (Exception e)
        {
            _failed = true;
            _log?.Dispose();
            _log = null;
            LogSyncFailed(e, _logFile);
            return new SqliteException($"Syncing the SQLite write-ahead log failed: {e.Message}", 10 /* SQLITE_IOERR */);
        }
    }

    /// <summary>fdatasync on Linux (what SQLite calls there); elsewhere the runtime's flush to disk (fsync, F_FULLFSYNC, FlushFileBuffers).</summary>
    private static void SyncData(FileStream log)
    {
        if (OperatingSystem.IsLinux())
        {
            if (Native.fdatasync((int)log.SafeFileHandle.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fdatasync failed with errno {Marshal.GetLastPInvokeError()}.");
            }

            return;
        }

        log.Flush(flushToDisk: true);
    }

    /// <summary>The log's directory entry (SQLite syncs it after creating the log, at FULL); Linux only, elsewhere left to SQLite's checkpoints.</summary>
    private static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = Native.open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"Opening {directory} to sync it failed with errno {Marshal.GetLastPInvokeError()}.");
        }

        try
        {
            if (Native.fsync(fd) != 0)
            {
                throw new IOException($"fsync of {directory} failed with errno {Marshal.GetLastPInvokeError()}.");
            }
        }
        finally
        {
            _ = Native.close(fd);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Syncing the SQLite write-ahead log {File} failed; commits sync on their own from now on")]
    private partial void LogSyncFailed(Exception exception, string file);

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int fdatasync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi)]
        public static extern int open(string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
