using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// EF's SQLite migration lock is a row in a table, taken before EF looks for pending migrations
/// and deleted when it is done: a node killed in between left it, and every later start waited
/// for it forever (a reliability run killed a node while it started; the next start never
/// listened). Here the row is left as such a kill leaves it, and the next start must come up.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class MigrationLockTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_lock_left_by_a_killed_start_does_not_stop_the_next_one()
    {
        var node = await PrivateNode.StartAsync(Fixture);
        var connectionString = node.ConnectionString;
        (await node.Admin.CreateConnectionAsync(Builders.Connection(Fixture.Receiver.NewEndpoint()))).Id();
        Assert.Equal(1, await CountAsync(connectionString, "connections"));
        await node.DisposeAsync();
        SqliteConnection.ClearAllPools();
        await LeaveLockAsync(connectionString);

        await using var restarted = Fixture.CreateFactory(b => b.UseSetting("ConnectionStrings:Webhooks", connectionString));
        await StartsAsync(restarted);
        Assert.Equal(1, await CountAsync(connectionString, "connections"));
    }

    [Fact]
    public async Task A_lock_left_by_a_killed_first_migration_is_cleared_and_the_schema_is_created()
    {
        var connectionString = await Fixture.Databases.CreateRequiredAsync();
        // Killed on its first start right after EF took the lock: the lock is all there is.
        await LeaveLockAsync(connectionString);

        await using var node = Fixture.CreateFactory(b => b.UseSetting("ConnectionStrings:Webhooks", connectionString));
        await StartsAsync(node);
        Assert.Equal(0, await CountAsync(connectionString, DatabaseInitializer.EfLockTable));
        Assert.Equal(0, await CountAsync(connectionString, "deliveries"));
    }

    [Fact]
    public async Task A_new_database_is_made_with_8_KiB_pages_and_one_made_before_keeps_its_own()
    {
        await using (var node = await PrivateNode.StartAsync(Fixture))
        {
            Assert.Equal(DatabaseInitializer.SqlitePageSize, await SqliteSql.ScalarAsync<long>(node.ConnectionString, "PRAGMA page_size"));
        }

        // A database from before (SQLite's default 4 KiB pages, in WAL mode, something in it).
        var old = await Fixture.Databases.CreateRequiredAsync();
        await SqliteSql.ExecuteAsync(old, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (id INTEGER PRIMARY KEY); INSERT INTO kept VALUES (1);");
        SqliteConnection.ClearAllPools();
        await using var upgraded = Fixture.CreateFactory(b => b.UseSetting("ConnectionStrings:Webhooks", old));
        await StartsAsync(upgraded);
        Assert.Equal(4096, await SqliteSql.ScalarAsync<long>(old, "PRAGMA page_size"));
        Assert.Equal(1, await CountAsync(old, "kept"));
        Assert.Equal(0, await CountAsync(old, "deliveries"));
    }

    /// <summary>Starts the app's host and asks it whether it is ready, within a deadline (a start stuck on the lock never returns).</summary>
    private static async Task StartsAsync(WebApplicationFactory<Program> factory)
    {
        using var client = await Task.Run(() => factory.CreateClient()).WaitAsync(StartDeadline);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiFixture.OperatorKey);
        (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).EnsureSuccessStatusCode();
    }

    private static Task LeaveLockAsync(string connectionString) =>
        // The table and row as EF 10's SqliteHistoryRepository makes them.
        SqliteSql.ExecuteAsync(connectionString, $"""
            CREATE TABLE IF NOT EXISTS "{DatabaseInitializer.EfLockTable}" ("Id" INTEGER NOT NULL CONSTRAINT "PK_{DatabaseInitializer.EfLockTable}" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
            INSERT OR IGNORE INTO "{DatabaseInitializer.EfLockTable}" ("Id", "Timestamp") VALUES (1, '2026-12-01 05:45:52.2527378+00:00');
            """);

    private static Task<long> CountAsync(string connectionString, string table) =>
        SqliteSql.ScalarAsync<long>(connectionString, $"SELECT COUNT(*) FROM \"{table}\"");
}
