using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>Database settings that cannot work stop the service at start, with the setting named.</summary>
public abstract class DatabaseSettingsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableTheory]
    [InlineData("PostgresAcceptWriters", "0", "must be at least 1")]
    [InlineData("PostgresAcceptWriters", "-2", "must be at least 1")]
    [InlineData("SqliteWriterCacheMiB", "0", "must be between 1 and 65536")]
    [InlineData("SqliteWriterCacheMiB", "-1", "must be between 1 and 65536")]
    [InlineData("SqliteWriterCacheMiB", "65537", "must be between 1 and 65536")]
    public async Task A_setting_out_of_its_range_does_not_start_on_either_provider(string setting, string value, string rule)
    {
        SkipIfUnavailable();
        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(async () =>
        {
            await using var node = await PrivateNode.StartAsync(Fixture, ($"Database:{setting}", value));
        });

        Assert.Equal($"Database:{setting} {rule}, not {value}.", error.Message);
    }
}

[Collection(SqliteCollection.Name)]
public sealed class DatabaseSettingsTests_Sqlite(SqliteApi fixture) : DatabaseSettingsTests<SqliteApi>(fixture)
{
    // SQLite's alone: PostgreSQL has no writer connection of its own.
    [SkippableFact]
    public async Task The_SQLite_writer_keeps_the_page_cache_it_is_given()
    {
        SkipIfUnavailable();
        await using var node = await PrivateNode.StartAsync(Fixture, ("Database:SqliteWriterCacheMiB", "5"));
        var committer = node.Factory.Services.GetRequiredService<AcceptCommitter>();

        // SQLite answers a size set in KiB with its negative; the shared node runs on the default.
        Assert.Equal(-5 * 1024, await WriterCacheAsync(committer));
        Assert.Equal(-32 * 1024, await WriterCacheAsync(Fixture.Factory.Services.GetRequiredService<AcceptCommitter>()));
    }

    /// <summary>Read on the writer's own connection, in its round: the PRAGMA is per connection.</summary>
    private static Task<long> WriterCacheAsync(AcceptCommitter committer) =>
        committer.InTransactionAsync(
            async (db, ct) => await db.Database.SqlQueryRaw<long>("SELECT cache_size AS \"Value\" FROM pragma_cache_size").SingleAsync(ct),
            CancellationToken.None);
}

[Collection(PostgresCollection.Name)]
public sealed class DatabaseSettingsTests_Postgres(PostgresApi fixture) : DatabaseSettingsTests<PostgresApi>(fixture);
