using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace WebhooksApi.Persistence;

/// <summary>
/// Sets SQLite's own busy timeout on every connection the context opens. Without it a writer
/// that finds the database locked (the API committing executions while the dispatcher claims
/// and records results) gets SQLITE_BUSY at once, and Microsoft.Data.Sqlite retries the
/// statement after sleeping 150 ms: the benchmark's throughput scenario spent its time in that
/// Thread.Sleep (80 deliveries/s). SQLite's busy handler instead waits in steps of 1 to 100 ms
/// and takes the lock as soon as the other writer commits.
/// </summary>
internal sealed class SqliteBusyTimeout : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    private static void Apply(DbConnection connection)
    {
        if (connection is not SqliteConnection sqlite)
        {
            return;
        }

        var seconds = new SqliteConnectionStringBuilder(sqlite.ConnectionString).DefaultTimeout;
        using var command = sqlite.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {Math.Max(1, seconds) * 1000};";
        command.ExecuteNonQuery();
    }
}
