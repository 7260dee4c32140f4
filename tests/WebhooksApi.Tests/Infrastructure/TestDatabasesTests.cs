using Microsoft.Data.Sqlite;
using Npgsql;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>The databases tests make are gone once their fixture is done, even with connections still pooled.</summary>
public sealed class TestDatabasesTests
{
    [Fact]
    public async Task Sqlite_databases_are_deleted_with_their_folders()
    {
        var databases = new TestDatabases("sqlite");
        var first = await databases.CreateRequiredAsync();
        var second = await databases.CreateRequiredAsync("upgrade.db");
        foreach (var connectionString in (string[])[first, second])
        {
            // Written and left in the pool, as an app's connections are at its end.
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);";
            await command.ExecuteNonQueryAsync();
        }

        var folders = new[] { first, second }.Select(c => Path.GetDirectoryName(new SqliteConnectionStringBuilder(c).DataSource)!).ToList();
        Assert.All(folders, f => Assert.True(Directory.Exists(f), f));

        await databases.DisposeAsync();

        Assert.All(folders, f => Assert.False(Directory.Exists(f), $"{f} is still there"));
    }

    [SkippableFact]
    public async Task Postgres_databases_are_dropped_even_with_sessions_open()
    {
        var databases = new TestDatabases("postgres");
        var (connectionString, unavailable) = await databases.CreateAsync();
        Skip.If(unavailable is not null, unavailable);

        // A session outside the pool, as an app a test left running holds one.
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        await using var held = new NpgsqlConnection(csb.ConnectionString);
        await held.OpenAsync();
        Assert.True(await PostgresServer.DatabaseExistsAsync(csb.Database!));

        await databases.DisposeAsync();

        Assert.False(await PostgresServer.DatabaseExistsAsync(csb.Database!), $"{csb.Database} is still there");
    }
}
