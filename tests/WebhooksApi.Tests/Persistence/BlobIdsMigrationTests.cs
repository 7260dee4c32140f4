using Microsoft.AspNetCore.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// The BlobIds migration rebuilds every SQLite table that holds ids, converting 36-character TEXT
/// ids to 16-byte BLOBs. A database written by the service is taken back to TEXT ids (the
/// migration's Down, which writes them as EF did before), then opened by a node again, which
/// migrates it up: every list and row the API showed before must come back the same, and the
/// node must go on accepting and delivering.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class BlobIdsMigrationTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private const string BeforeBlobIds = "20261123000008_DueByConnection";

    /// <summary>Every id column, as the model maps them (the migration must convert each).</summary>
    private static readonly (string Table, string Column)[] IdColumns = IdColumnsOfModel();

    [Fact]
    public async Task Text_ids_upgrade_to_blobs_and_the_api_shows_every_row_as_before()
    {
        var node = await PrivateNode.StartAsync(Fixture);
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, Builders.Connection(url));
        var ids = new List<string>();
        foreach (var contact in new[] { "kept-1", "kept-2", "kept-3" })
        {
            ids.Add((await step.ExecuteAsync(EngineBuilders.Contact(contact))).GetProperty("items")[0].Id());
        }

        foreach (var id in ids)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", $"delivery {id}");
        }

        var reads = Reads(step, ids);
        var before = await ReadAllAsync(node.Admin, reads);
        var connectionString = node.ConnectionString;
        await node.DisposeAsync();
        SqliteConnection.ClearAllPools();

        await MigrateAsync(connectionString, BeforeBlobIds);
        Assert.Equal(0, await CountAsync(connectionString, "typeof({0}) <> 'text'"));
        Assert.True(await CountAsync(connectionString, "typeof({0}) = 'text'") > 20, "the database holds ids to convert");
        // The form EF wrote before the migration: upper case, with dashes.
        Assert.Equal(Guid.Parse(ids[0]).ToString("D").ToUpperInvariant(), await SqliteSql.ScalarAsync<string>(connectionString, "SELECT id FROM deliveries ORDER BY id LIMIT 1"));
        SqliteConnection.ClearAllPools();

        await using var upgraded = Node(connectionString);
        using var admin = upgraded.CreateClient();
        admin.DefaultRequestHeaders.Authorization = node.Admin.DefaultRequestHeaders.Authorization;
        var after = await ReadAllAsync(admin, reads);

        Assert.Equal(before, after);
        Assert.Equal(0, await CountAsync(connectionString, "typeof({0}) = 'text'"));
        Assert.Equal("ok", await SqliteSql.ScalarAsync<string>(connectionString, "PRAGMA integrity_check"));
        Assert.Null(await SqliteSql.ScalarAsync<object>(connectionString, "PRAGMA foreign_key_check"));

        // Still writes and delivers, with the rows read back in time order.
        var next = (await (await admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact("after-upgrade")))
            .ReadJsonAsync(System.Net.HttpStatusCode.Accepted)).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => admin.GetJsonAsync($"/v1/deliveries/{next}"), d => d.Str("status") == "succeeded", "a delivery after the upgrade");
        var newestFirst = (await admin.GetJsonAsync($"/v1/deliveries?workflowWebhookId={step.StepId}")).GetProperty("items").EnumerateArray().Select(d => d.Id()).ToList();
        Assert.Equal([next, .. Enumerable.Reverse(ids)], newestFirst);
    }

    [Fact]
    public async Task Running_the_upgrade_again_over_converted_tables_changes_nothing()
    {
        var node = await PrivateNode.StartAsync(Fixture);
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, Builders.Connection(url));
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("twice"))).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "the delivery");
        var reads = Reads(step, [id]);
        var before = await ReadAllAsync(node.Admin, reads);
        var connectionString = node.ConnectionString;
        await node.DisposeAsync();
        SqliteConnection.ClearAllPools();

        // As a node killed after the rebuild committed and before its history row did leaves it.
        await SqliteSql.ExecuteAsync(connectionString, "DELETE FROM __ef_migrations_history WHERE MigrationId = '20261201000009_BlobIds'");
        SqliteConnection.ClearAllPools();

        await using var again = Node(connectionString);
        using var admin = again.CreateClient();
        admin.DefaultRequestHeaders.Authorization = node.Admin.DefaultRequestHeaders.Authorization;
        Assert.Equal(before, await ReadAllAsync(admin, reads));
        Assert.Equal(0, await CountAsync(connectionString, "typeof({0}) = 'text'"));
        Assert.Equal(1L, await SqliteSql.ScalarAsync<long>(connectionString, "SELECT count(*) FROM __ef_migrations_history WHERE MigrationId = '20261201000009_BlobIds'"));
    }

    private static string[] Reads(WorkflowStep step, IReadOnlyList<string> deliveryIds) =>
    [
        "/v1/api-keys",
        "/v1/connections",
        $"/v1/connections/{step.ConnectionId}",
        "/v1/workflow-webhooks",
        $"/v1/workflow-webhooks/{step.StepId}",
        "/v1/deliveries",
        .. deliveryIds.Select(id => $"/v1/deliveries/{id}"),
        $"/v1/deliveries?connectionId={step.ConnectionId}&limit=1",
        "/v1/logs",
        $"/v1/logs?workflowWebhookId={step.StepId}&limit=2",
        $"/v1/logs?from={Uri.EscapeDataString(DateTimeOffset.UnixEpoch.ToString("O"))}&to={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddYears(50).ToString("O"))}",
    ];

    /// <summary>Each read's body, and the page after it where there is one (keyset cursors compare ids).</summary>
    private static async Task<List<string>> ReadAllAsync(HttpClient admin, IEnumerable<string> paths)
    {
        var bodies = new List<string>();
        foreach (var path in paths)
        {
            var body = await admin.GetJsonAsync(path);
            bodies.Add($"{path} {body.GetRawText()}");
            if (body.TryGetProperty("nextCursor", out var cursor) && cursor.GetString() is { } next)
            {
                var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
                bodies.Add($"{path} (next) {(await admin.GetJsonAsync($"{path}{separator}cursor={Uri.EscapeDataString(next)}")).GetRawText()}");
            }
        }

        return bodies;
    }

    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> Node(string connectionString) =>
        Fixture.CreateFactory(b => b.UseSetting("ConnectionStrings:Webhooks", connectionString));

    private static async Task MigrateAsync(string connectionString, string target)
    {
        await using var db = Context(connectionString);
        await db.GetService<IMigrator>().MigrateAsync(target);
    }

    private static WebhooksDbContext Context(string connectionString)
    {
        var options = new DbContextOptionsBuilder<WebhooksDbContext>();
        PersistenceExtensions.Configure(options, new DatabaseOptions { Provider = "sqlite" }, connectionString);
        return new WebhooksDbContext(options.Options);
    }

    /// <summary>Rows over every id column whose non-NULL value meets <paramref name="condition"/> ({0}: the column).</summary>
    private static async Task<long> CountAsync(string connectionString, string condition)
    {
        var total = 0L;
        foreach (var (table, column) in IdColumns)
        {
            total += await SqliteSql.ScalarAsync<long>(connectionString, $"SELECT count(*) FROM \"{table}\" WHERE \"{column}\" IS NOT NULL AND {string.Format(System.Globalization.CultureInfo.InvariantCulture, condition, $"\"{column}\"")}");
        }

        return total;
    }

    private static (string, string)[] IdColumnsOfModel()
    {
        using var db = Context("Data Source=:memory:");
        return
        [
            .. db.Model.GetEntityTypes()
                .SelectMany(e => e.GetProperties().Where(p => (Nullable.GetUnderlyingType(p.ClrType) ?? p.ClrType) == typeof(Guid)).Select(p => (e.GetTableName()!, p.GetColumnName()))),
        ];
    }
}
