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
/// What it keeps: the log's size stays bounded as before (the same 1,000 pages wake it; a
/// checkpoint that could not copy everything is retried on the next commit past the mark).
/// A commit to a database no checkpointer runs for (the service stopping, a tool opening the file)
/// checkpoints inline, as SQLite would. Where the hook cannot be installed (another SQLite library)
/// SQLite's own automatic checkpoint stays.
/// </para>
/// </summary>
internal sealed partial class SqliteCheckpointer(string connectionString, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    /// <summary>Log pages after which a checkpoint is due: SQLite's own default (wal_autocheckpoint).</summary>
    internal const int DuePages = 1_000;

    /// <summary>Running checkpointers, by the database file they serve.</summary>
    private static readonly ConcurrentDictionary<string, SqliteCheckpointer> Running = new(StringComparer.Ordinal);

    private readonly SemaphoreSlim _due = new(0, 1);
    private long _checkpoints;

    /// <summary>Checkpoints this instance has run (tests and diagnostics).</summary>
    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    /// <summary>Whether a checkpointer serves the database file (tests and diagnostics).</summary>
    internal static bool IsRunningFor(string file) => Running.ContainsKey(Path.GetFullPath(file));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(stoppingToken);
        var file = Hook.FileOf(connection);
        if (string.IsNullOrEmpty(file) || !Running.TryAdd(file, this))
        {
            // An in-memory database has no log; a second service on the same file leaves it to the first.
            return;
        }

        try
        {
            await using var checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            while (!stoppingToken.IsCancellationRequested)
            {
                await _due.WaitAsync(stoppingToken);
                try
                {
                    await checkpoint.ExecuteNonQueryAsync(stoppingToken);
                    Interlocked.Increment(ref _checkpoints);
                }
                catch (SqliteException e)
                {
                    // Busy or failing disk: the next commit past the mark asks again.
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
            if (pages < DuePages)
            {
                return 0;
            }

            var file = Marshal.PtrToStringUTF8(sqlite3_db_filename(database, "main"));
            if (file is not null && Running.TryGetValue(file, out var checkpointer))
            {
                checkpointer.Wake();
            }
            else
            {
                // No checkpointer for this file: what SQLite's own hook would have done.
                _ = sqlite3_wal_checkpoint(database, schema);
            }

            return 0;
        }

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern nint sqlite3_wal_hook(nint database, Callback callback, nint argument);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern int sqlite3_wal_checkpoint(nint database, nint schema);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern nint sqlite3_db_filename(nint database, [MarshalAs(UnmanagedType.LPUTF8Str)] string schema);
    }
}
