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
}

[Collection(SqliteCollection.Name)]
public sealed class DatabaseSettingsTests_Sqlite(SqliteApi fixture) : DatabaseSettingsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class DatabaseSettingsTests_Postgres(PostgresApi fixture) : DatabaseSettingsTests<PostgresApi>(fixture);
