using System.Data.Common;
using System.Runtime.CompilerServices;
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

    /// <summary>
    /// Native connections that have their timeout. Microsoft.Data.Sqlite pools the native
    /// handle, and a PRAGMA lasts as long as it does: setting it once per handle instead of on
    /// every open saves a statement and a connection-string parse on each of the several opens a
    /// request makes (2.7% of the process's CPU in the latency benchmark's profile).
    /// </summary>
    private static readonly ConditionalWeakTable<object, object> Applied = [];

    internal static void Apply(DbConnection connection)
    {
        if (connection is not SqliteConnection { Handle: { } handle } sqlite || Applied.TryGetValue(handle, out _))
        {
            return;
        }

        using var command = sqlite.CreateCommand();
        var seconds = new SqliteConnectionStringBuilder(sqlite.ConnectionString).DefaultTimeout;
        command.CommandText = $"PRAGMA busy_timeout = {Math.Max(1, seconds) * 1000};";
        command.ExecuteNonQuery();
        Applied.AddOrUpdate(handle, handle);
    }
}
