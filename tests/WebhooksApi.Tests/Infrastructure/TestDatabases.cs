using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>
/// The databases a fixture's tests make: its own, a private node's, a migration test's. Each is
/// new and empty (a SQLite file in a folder of its own, or a PostgreSQL database), and all of
/// them are removed when the fixture is disposed, after the apps on them have stopped.
/// </summary>
/// <remarks>
/// Why: nothing removed them. A throwaway cluster goes with its run, but against a long-lived
/// server (ConnectionStrings__Webhooks) and in the temp folder every run left its databases
/// behind: after a day of runs on the development machine, 346 databases (3.6 GB) and 1,601
/// SQLite folders (2.0 GB).
/// </remarks>
public sealed class TestDatabases(string provider) : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _made = new();

    /// <summary>A new, empty database; on SQLite <paramref name="file"/> names its file.</summary>
    public async Task<(string? ConnectionString, string? Unavailable)> CreateAsync(string file = "webhooks.db")
    {
        if (provider == "postgres")
        {
            var made = await PostgresServer.CreateDatabaseAsync();
            if (made.ConnectionString is { } connectionString)
            {
                _made.Enqueue(connectionString);
            }

            return made;
        }

        var folder = Path.Combine(Path.GetTempPath(), "webhooks-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var sqlite = $"Data Source={Path.Combine(folder, file)}";
        _made.Enqueue(sqlite);
        return (sqlite, null);
    }

    /// <summary>A new database, where the provider is known to be available (a fixture that runs).</summary>
    public async Task<string> CreateRequiredAsync(string file = "webhooks.db")
    {
        var (connectionString, unavailable) = await CreateAsync(file);
        return connectionString ?? throw new InvalidOperationException(unavailable);
    }

    public async ValueTask DisposeAsync()
    {
        while (_made.TryDequeue(out var connectionString))
        {
            if (provider == "postgres")
            {
                await PostgresServer.DropDatabaseAsync(connectionString);
                continue;
            }

            // Idle pooled handles would keep the deleted files' space until the process ends.
            using (var connection = new SqliteConnection(connectionString))
            {
                SqliteConnection.ClearPool(connection);
            }

            var folder = Path.GetDirectoryName(new SqliteConnectionStringBuilder(connectionString).DataSource)!;
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // A file still being written by an app a test left running: the folder is all that is left behind.
            }
        }
    }
}
