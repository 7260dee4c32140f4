using Microsoft.Data.Sqlite;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// A connection that finds the SQLite database locked by another writer waits inside SQLite (the
/// busy handler SqliteBusyTimeout installs), takes the lock once it is free, and gives up with
/// SQLITE_BUSY after its timeout instead of waiting for ever.
/// </summary>
public sealed class SqliteBusyHandlerTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"busy-handler-{Guid.NewGuid():N}.db");

    [Fact]
    public async Task A_writer_that_finds_the_database_locked_waits_and_writes_once_the_lock_is_free()
    {
        var connectionString = ConnectionString(timeoutSeconds: 30);
        using var holder = Open(connectionString);
        using var transaction = HoldTheWriteLock(holder);

        var waitsBefore = SqliteBusyTimeout.BusyHandler.Waits;
        var writer = SecondWriterAsync(connectionString);
        await Eventually.WaitAsync(() => SqliteBusyTimeout.BusyHandler.Waits > waitsBefore || writer.IsCompleted, "the second writer to wait for the lock");

        Assert.False(writer.IsCompleted, "The second writer wrote while the first held the lock.");
        transaction.Commit();
        await writer.WaitAsync(TimeSpan.FromSeconds(20));
        using var count = holder.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t;";
        Assert.Equal(2L, count.ExecuteScalar());
    }

    [Fact]
    public async Task A_connection_the_context_did_not_open_waits_the_same_way()
    {
        // Quartz's store opens its own connections; the handler reaches them through SQLite's auto-extension hook.
        SqliteBusyTimeout.BusyHandler.InstallOnEveryConnection();
        var connectionString = ConnectionString(timeoutSeconds: 30);
        using var holder = Open(connectionString);
        using var transaction = HoldTheWriteLock(holder);

        var waitsBefore = SqliteBusyTimeout.BusyHandler.Waits;
        var writer = SecondWriterAsync(connectionString, applied: false);
        await Eventually.WaitAsync(() => SqliteBusyTimeout.BusyHandler.Waits > waitsBefore || writer.IsCompleted, "the plain connection to wait for the lock");

        Assert.False(writer.IsCompleted, "The second writer wrote while the first held the lock.");
        transaction.Commit();
        await writer.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_writer_gives_up_with_busy_after_its_timeout()
    {
        var connectionString = ConnectionString(timeoutSeconds: 1);
        using var holder = Open(connectionString);
        using var transaction = HoldTheWriteLock(holder);

        var failure = await Assert.ThrowsAsync<SqliteException>(() => SecondWriterAsync(connectionString).WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.Equal(5, failure.SqliteErrorCode); // SQLITE_BUSY
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            File.Delete(_file + suffix);
        }
    }

    private string ConnectionString(int timeoutSeconds) => new SqliteConnectionStringBuilder
    {
        DataSource = _file,
        Pooling = false,
        DefaultTimeout = timeoutSeconds,
    }.ToString();

    /// <summary>Takes SQLite's write lock on the connection: a transaction that has written a row and not committed.</summary>
    private static SqliteTransaction HoldTheWriteLock(SqliteConnection holder)
    {
        Execute(holder, "PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);");
        var transaction = holder.BeginTransaction();
        Execute(holder, "INSERT INTO t VALUES (1);", transaction);
        return transaction;
    }

    /// <summary>Another connection writing a second row, on its own thread (SQLite waits synchronously).</summary>
    /// <param name="applied">Opened as the context opens its connections (true), or as a plain Microsoft.Data.Sqlite connection.</param>
    private static Task SecondWriterAsync(string connectionString, bool applied = true) => Task.Run(() =>
    {
        using var connection = applied ? Open(connectionString) : OpenPlain(connectionString);
        Execute(connection, "INSERT INTO t VALUES (2);");
    });

    private static SqliteConnection OpenPlain(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        return connection;
    }

    private static SqliteConnection Open(string connectionString)
    {
        var connection = OpenPlain(connectionString);
        SqliteBusyTimeout.Apply(connection);
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
