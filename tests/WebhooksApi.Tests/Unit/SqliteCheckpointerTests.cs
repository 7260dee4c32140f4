using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// The write-ahead log is copied back into the database file once it passes SQLite's mark of
/// 1,000 pages: by the checkpointer's own connection when one runs for the file (woken by the
/// commit through SQLite's WAL hook), or inline by the committing connection when none does, as
/// SQLite itself would. Either way the log stays bounded. The database file grows only when a
/// checkpoint copies pages into it, which is what the tests watch.
/// </summary>
public sealed class SqliteCheckpointerTests : IDisposable
{
    /// <summary>Comfortably past the mark: 1,200 rows of ~4 KB are at least 1,200 pages of log.</summary>
    private const int Rows = 1_200;

    private readonly string _file = Path.Combine(Path.GetTempPath(), $"checkpointer-{Guid.NewGuid():N}.db");

    [Fact]
    public async Task A_commit_past_the_mark_wakes_the_checkpointer_which_copies_the_log_into_the_database()
    {
        using var writer = OpenLogged();
        using var checkpointer = await StartCheckpointerAsync();

        WriteLogPastTheMark(writer);

        await Eventually.WaitAsync(() => checkpointer.Checkpoints >= 1 && DatabaseFileBytes() >= Rows * 4_000L, "the checkpointer to copy the log into the database file");
        await checkpointer.StopAsync(CancellationToken.None);
        Assert.False(SqliteCheckpointer.IsRunningFor(_file));
    }

    [Fact]
    public async Task Under_back_to_back_commits_the_log_starts_over_instead_of_growing()
    {
        using var writer = OpenLogged();
        using var checkpointer = await StartCheckpointerAsync();

        // The writer starts each transaction as soon as the last one committed, as the service's
        // one writer does under load, mostly while the checkpointer is still copying.
        // Before, it started over twice in 1,184,100 pages of such commits (a minute of them).
        // At least 20 marks of them: the size bound below compares the log's file with what was
        // committed, and after three quick starts over (7,800 pages in one CI run) a log that once
        // reached 4.7 marks already held more than half of it.
        var committed = 0L;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while ((checkpointer.Restarts < 3 || committed < 20 * SqliteCheckpointer.DuePages) && committed < 50 * SqliteCheckpointer.DuePages && DateTime.UtcNow < deadline)
        {
            Insert(writer, rows: 100);
            committed += 100;
        }

        Assert.True(checkpointer.Restarts >= 3, $"The log started over {checkpointer.Restarts} time(s) in {committed} pages of commits.");

        // A checkpoint per mark of frames or so, not one per commit (ten a mark here). On a busy
        // machine a checkpoint can find part of a mark committed meanwhile and be followed by
        // another before the log starts over: 8 for 4 marks while the whole suite ran.
        var marks = committed / SqliteCheckpointer.DuePages;
        Assert.InRange(checkpointer.Checkpoints, 1, (2 * marks) + 3);
        // The log's file keeps the longest the log ever was: far less than everything committed.
        Assert.True(new FileInfo(_file + "-wal").Length < committed * 4_096 / 2, $"The log file holds {new FileInfo(_file + "-wal").Length} bytes after {committed} pages of commits.");
        await checkpointer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void A_log_that_grew_while_a_reader_held_it_is_cut_back_when_it_starts_over()
    {
        using var writer = OpenLogged();
        using (var reader = Open())
        {
            // A snapshot held open: no checkpoint may copy past it, so the log cannot start over.
            using var snapshot = reader.BeginTransaction(deferred: true);
            Execute(reader, "SELECT count(*) FROM t;", snapshot);
            var rows = (int)(SqliteCheckpointer.LogFileLimitBytes / 4_000) + 2_000;
            for (var written = 0; written < rows; written += 1_000)
            {
                Insert(writer, rows: 1_000);
            }

            Assert.True(LogFileBytes() > SqliteCheckpointer.LogFileLimitBytes, $"The log file holds {LogFileBytes()} bytes: it should have grown past the limit.");
        }

        // The next commit's checkpoint copies everything; the transaction after it starts the log over.
        Insert(writer, rows: 1);
        Insert(writer, rows: 1);

        Assert.True(LogFileBytes() <= SqliteCheckpointer.LogFileLimitBytes, $"The log file holds {LogFileBytes()} bytes after the log started over.");
    }

    [Fact]
    public void Without_a_checkpointer_the_committing_connection_checkpoints_as_SQLite_would()
    {
        using var writer = OpenLogged();

        WriteLogPastTheMark(writer);

        // Inline, before the commit returned: nothing else could have copied the pages.
        Assert.True(DatabaseFileBytes() >= Rows * 4_000L, $"The database file holds {DatabaseFileBytes()} bytes: the log was not checkpointed.");
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            File.Delete(_file + suffix);
        }
    }

    private long DatabaseFileBytes() => new FileInfo(_file).Length;

    private long LogFileBytes() => new FileInfo(_file + "-wal").Length;

    private string ConnectionString() => new SqliteConnectionStringBuilder { DataSource = _file, Pooling = false }.ToString();

    /// <summary>A connection to a new database in WAL mode with one table.</summary>
    private SqliteConnection OpenLogged()
    {
        var writer = Open();
        Execute(writer, "PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB);");
        return writer;
    }

    private async Task<SqliteCheckpointer> StartCheckpointerAsync()
    {
        var checkpointer = new SqliteCheckpointer(ConnectionString(), NullLogger<SqliteCheckpointer>.Instance);
        await checkpointer.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => SqliteCheckpointer.IsRunningFor(_file), "the checkpointer to serve the file");
        return checkpointer;
    }

    /// <summary>A connection as the context opens its connections: busy handler and WAL hook installed.</summary>
    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(ConnectionString());
        connection.Open();
        SqliteBusyTimeout.Apply(connection);
        return connection;
    }

    private static void WriteLogPastTheMark(SqliteConnection writer) => Insert(writer, Rows);

    /// <summary>One transaction of <paramref name="rows"/> rows of ~4 KB: at least as many pages of log.</summary>
    private static void Insert(SqliteConnection writer, int rows)
    {
        using var transaction = writer.BeginTransaction();
        Execute(writer, $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) INSERT INTO t SELECT randomblob(4000) FROM n;", transaction);
        transaction.Commit();
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
