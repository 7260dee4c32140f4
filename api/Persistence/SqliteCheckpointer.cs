using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace WebhooksApi.Persistence;

/// <summary>
/// Copies SQLite's write-ahead log back into the database file on a thread of its own.
/// <para>
/// Why: SQLite checkpoints on the connection whose commit took the log past 1,000 pages, inside
/// that commit. On SQLite all of the hot path's writes go through one writer (AcceptCommitter),
/// so every checkpoint stopped every accept, claim and result write for its 10-20 ms: those were
/// the writer's longest commits in the latency benchmark, 3-11 every 2 s. Here the context's
/// connections report the log's size after each commit (SQLite's WAL hook, which replaces its
/// automatic checkpoint) and the checkpointer, woken by it, checkpoints with a connection of its
/// own. A passive checkpoint waits for no one: writers go on appending while it copies.
/// </para>
/// <para>
/// Starting the log over: SQLite writes the log from its beginning again only when a write
/// transaction starts while every frame of it is copied. The writer starts its next transaction
/// while the checkpointer is still copying, so the log seldom started over (it reached ~9,800
/// frames, 40 MB, in the latency benchmark), and every commit past the mark woke a checkpoint of
/// the few frames since the last one, each with an fsync of the database file (~200 a second in
/// the latency benchmark, a thread-pool thread blocked 58% of the time). Now
/// (<see cref="WalProgress"/>) the checkpointer is woken once per <see cref="DuePages"/> new
/// frames, and after a checkpoint that copied everything the next commit copies the frames
/// committed meanwhile inline (a few, where SQLite's own checkpoint would copy 1,000 there): the
/// transaction after it starts the log over. Latency benchmark, 30 s at 1,000 executions/s:
/// 4,682-7,717 checkpoints -> 631-662; API p99 25.3 / 28.5 -> 20.8 / 19.0 ms.
/// </para>
/// <para>
/// What it keeps: the log stays about <see cref="DuePages"/> frames long; if a reader still holds
/// frames of it when it should start over, SQLite appends instead and the cycle repeats
/// <see cref="DuePages"/> frames later, as SQLite's own checkpoints would. A commit to a database
/// no checkpointer runs for (the service stopping, a tool opening the file) checkpoints inline, as
/// SQLite would. Where the hook cannot be installed (another SQLite library) SQLite's own automatic
/// checkpoint stays.
/// </para>
/// </summary>
internal sealed partial class SqliteCheckpointer(string connectionString, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    /// <summary>Log pages after which a checkpoint is due: SQLite's own default (wal_autocheckpoint).</summary>
    internal const int DuePages = 1_000;

    /// <summary>
    /// Bytes a log's file is cut back to when the log starts over (PRAGMA journal_size_limit, set
    /// on every connection the context opens, see <see cref="Attach"/>).
    /// <para>
    /// Why: SQLite keeps the log's file at the longest the log ever was unless told. The log starts
    /// over only when a write transaction finds every frame copied, and under sustained writes the
    /// checkpointer, copying while the writer appends, can miss that for a while: in one run of the
    /// throughput benchmark the log grew to 45,847 frames (180 MB) before it started over, and its
    /// file stayed 180-223 MB to the end. 64 MiB is 16 times the mark and past what the log reaches
    /// between starts over under that load (1,150-11,124 frames): a file is cut only after such a
    /// stretch, not every cycle (a cut file grows again block by block).
    /// </para>
    /// </summary>
    internal const long LogFileLimitBytes = 64L * 1024 * 1024;

    /// <summary>
    /// The log's side of a connection, set once per native connection (from
    /// <see cref="SqliteBusyTimeout"/>): its commits report to the checkpointer, whose thread then
    /// copies the log instead of this connection, and a log it starts over is cut back to
    /// <see cref="LogFileLimitBytes"/>.
    /// </summary>
    internal static void Attach(SqliteConnection connection, nint database)
    {
        Hook.TryInstall(database);
        using var limit = connection.CreateCommand();
        limit.CommandText = $"PRAGMA journal_size_limit = {LogFileLimitBytes};";
        limit.ExecuteNonQuery();
    }

    /// <summary>Running checkpointers, by the database file they serve.</summary>
    private static readonly ConcurrentDictionary<string, SqliteCheckpointer> Running = new(StringComparer.Ordinal);

    private readonly SemaphoreSlim _due = new(0, 1);
    private readonly WalProgress _progress = new(DuePages);
    private long _checkpoints;

    /// <summary>Checkpoints this instance has run (tests and diagnostics).</summary>
    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    /// <summary>Times the log was seen to start over from its beginning (tests and diagnostics).</summary>
    public long Restarts => _progress.Restarts;

    /// <summary>Whether a checkpointer serves the database file (tests and diagnostics).</summary>
    internal static bool IsRunningFor(string file) => Running.ContainsKey(Path.GetFullPath(file));

    /// <summary>
    /// A thread of its own: a checkpoint is blocking file I/O (copies and an fsync) of up to tens
    /// of milliseconds, which would hold a thread-pool thread, of which a 2-core node has few.
    /// </summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        using var connection = new SqliteConnection(connectionString);
        connection.Open();

        var file = Hook.FileOf(connection);
        if (string.IsNullOrEmpty(file) || !Running.TryAdd(file, this))
        {
            // An in-memory database has no log; a second service on the same file leaves it to the first.
            return;
        }

        try
        {
            using var checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            while (!stoppingToken.IsCancellationRequested)
            {
                _due.Wait(stoppingToken);
                var restarts = _progress.Restarts;
                try
                {
                    // One row: busy, frames in the log, frames copied (-1, -1 when not in WAL mode).
                    using var result = checkpoint.ExecuteReader();
                    if (result.Read() && result.GetInt64(1) is var frames and >= 0)
                    {
                        _progress.Checkpointed(restarts, frames, result.GetInt64(2));
                    }

                    Interlocked.Increment(ref _checkpoints);
                }
                catch (SqliteException e)
                {
                    // Busy or failing disk: the next commit asks again.
                    LogCheckpointFailed(e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Commits from now on checkpoint inline again.
            Running.TryRemove(KeyValuePair.Create(file, this));
        }
    }

    public override void Dispose()
    {
        _due.Dispose();
        base.Dispose();
    }

    /// <summary>After a commit, on the committing thread: wakes the checkpointer or copies the tail (see the class remarks).</summary>
    private void Committed(nint database, nint schema, int frames)
    {
        switch (_progress.Committed(frames))
        {
            case CheckpointStep.Wake:
                Wake();
                break;
            case CheckpointStep.CopyTail:
                _ = Hook.Checkpoint(database, schema);
                break;
        }
    }

    private void Wake()
    {
        try
        {
            if (_due.CurrentCount == 0)
            {
                _due.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already due, or stopped: either way nothing more to do here.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpointing the SQLite write-ahead log failed; retrying after the next commit")]
    private partial void LogCheckpointFailed(Exception exception);

    /// <summary>SQLite's <c>sqlite3_wal_hook</c>, which SQLitePCLRaw does not expose.</summary>
    internal static class Hook
    {
        private static readonly Callback OnCommitDelegate = OnCommit;
        private static volatile bool _unavailable;

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int Callback(nint argument, nint database, nint schema, int pages);

        /// <summary>Reports this connection's commits to the checkpointer; false where the SQLite library lacks the hook.</summary>
        public static bool TryInstall(nint database)
        {
            if (_unavailable)
            {
                return false;
            }

            try
            {
                _ = sqlite3_wal_hook(database, OnCommitDelegate, 0);
                return true;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                _unavailable = true;
                return false;
            }
        }

        /// <summary>The database file a connection has open, as SQLite names it (empty in memory).</summary>
        public static string? FileOf(SqliteConnection connection) =>
            connection.Handle is { } handle ? Marshal.PtrToStringUTF8(sqlite3_db_filename(handle.DangerousGetHandle(), "main")) : null;

        /// <summary>
        /// Called by SQLite on the committing thread, after the commit, with the log's size in
        /// pages. Always SQLITE_OK: the commit has happened whatever is done here.
        /// </summary>
        private static int OnCommit(nint argument, nint database, nint schema, int pages)
        {
            // Every commit, also below the mark: a log that shrank is how a restart shows.
            var file = Marshal.PtrToStringUTF8(sqlite3_db_filename(database, "main"));
            if (file is not null && Running.TryGetValue(file, out var checkpointer))
            {
                checkpointer.Committed(database, schema, pages);
            }
            else if (pages >= DuePages)
            {
                // No checkpointer for this file: what SQLite's own hook would have done.
                _ = Checkpoint(database, schema);
            }

            return 0;
        }

        /// <summary>A passive checkpoint on the committing connection, as SQLite's own hook runs it.</summary>
        public static int Checkpoint(nint database, nint schema) => sqlite3_wal_checkpoint(database, schema);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern nint sqlite3_wal_hook(nint database, Callback callback, nint argument);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern int sqlite3_wal_checkpoint(nint database, nint schema);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern nint sqlite3_db_filename(nint database, [MarshalAs(UnmanagedType.LPUTF8Str)] string schema);
    }
}
