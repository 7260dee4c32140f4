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
    [InlineData("0")]
    [InlineData("-2")]
    public async Task Fewer_than_one_PostgreSQL_accept_writer_does_not_start(string writers)
    {
        SkipIfUnavailable();
        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(async () =>
        {
            await using var node = await PrivateNode.StartAsync(Fixture, ("Database:PostgresAcceptWriters", writers));
        });

        Assert.Equal($"Database:PostgresAcceptWriters must be at least 1, not {writers}.", error.Message);
    }

    [SkippableTheory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("65537")]
    public async Task A_SQLite_writer_cache_outside_1_MiB_to_64_GiB_does_not_start(string mib)
    {
        SkipIfUnavailable();
        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(async () =>
        {
            await using var node = await PrivateNode.StartAsync(Fixture, ("Database:SqliteWriterCacheMiB", mib));
        });

        Assert.Equal($"Database:SqliteWriterCacheMiB must be between 1 and 65536, not {mib}.", error.Message);
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
