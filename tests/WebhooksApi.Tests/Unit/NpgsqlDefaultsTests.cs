using Npgsql;
using WebhooksApi.Persistence;

namespace WebhooksApi.Tests.Unit;

/// <summary>Npgsql prepares the hot statements and skips the session reset by default; an operator's own setting wins.</summary>
public sealed class NpgsqlDefaultsTests
{
    [Fact]
    public void A_connection_string_without_the_setting_gets_the_default()
    {
        var prepared = new NpgsqlConnectionStringBuilder(PersistenceExtensions.WithNpgsqlDefaults("Host=db;Username=app;Database=webhooks;Maximum Pool Size=50"));

        Assert.Equal(PersistenceExtensions.DefaultMaxAutoPrepare, prepared.MaxAutoPrepare);
        Assert.True(prepared.NoResetOnClose);
        Assert.Equal("db", prepared.Host);
        Assert.Equal("webhooks", prepared.Database);
        Assert.Equal(50, prepared.MaxPoolSize);
    }

    [Theory]
    [InlineData("Host=db;Max Auto Prepare=0", 0)]
    [InlineData("Host=db;MaxAutoPrepare=10", 10)]
    [InlineData("Host=db;max auto prepare=5", 5)]
    public void A_setting_in_the_connection_string_is_kept(string connectionString, int expected)
    {
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(PersistenceExtensions.WithNpgsqlDefaults(connectionString)).MaxAutoPrepare);
    }

    [Theory]
    [InlineData("Host=db;No Reset On Close=false")]
    [InlineData("Host=db;NoResetOnClose=false")]
    public void A_reset_asked_for_in_the_connection_string_is_kept(string connectionString)
    {
        Assert.False(new NpgsqlConnectionStringBuilder(PersistenceExtensions.WithNpgsqlDefaults(connectionString)).NoResetOnClose);
    }
}
