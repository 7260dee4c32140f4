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
        using var writer = Open();
        Execute(writer, "PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB);");
        using var checkpointer = new SqliteCheckpointer(ConnectionString(), NullLogger<SqliteCheckpointer>.Instance);
        await checkpointer.StartAsync(CancellationToken.None);
        await Eventually.WaitAsync(() => SqliteCheckpointer.IsRunningFor(_file), "the checkpointer to serve the file");

        WriteLogPastTheMark(writer);

        await Eventually.WaitAsync(() => checkpointer.Checkpoints >= 1 && DatabaseFileBytes() >= Rows * 4_000L, "the checkpointer to copy the log into the database file");
        await checkpointer.StopAsync(CancellationToken.None);
        Assert.False(SqliteCheckpointer.IsRunningFor(_file));
    }

    [Fact]
    public void Without_a_checkpointer_the_committing_connection_checkpoints_as_SQLite_would()
    {
        using var writer = Open();
        Execute(writer, "PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB);");

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

    private string ConnectionString() => new SqliteConnectionStringBuilder { DataSource = _file, Pooling = false }.ToString();

    /// <summary>A connection as the context opens its connections: busy handler and WAL hook installed.</summary>
    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(ConnectionString());
        connection.Open();
        SqliteBusyTimeout.Apply(connection);
        return connection;
    }

    private static void WriteLogPastTheMark(SqliteConnection writer)
    {
        using var transaction = writer.BeginTransaction();
        Execute(writer, $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {Rows}) INSERT INTO t SELECT randomblob(4000) FROM n;", transaction);
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
