using System.Net;
using System.Net.Http.Headers;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Accounts;

public abstract class AccountsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task Operator_creates_an_account_whose_admin_key_works()
    {
        SkipIfUnavailable();
        using var op = Fixture.Client(ApiFixture.OperatorKey);
        var created = await (await op.PostJsonAsync("/v1/accounts", new { name = "Acme" })).ReadJsonAsync(HttpStatusCode.Created);

        Assert.Equal("Acme", created.GetProperty("name").GetString());
        var key = created.GetProperty("apiKey").GetProperty("key").GetString()!;
        Assert.StartsWith("whk_", key, StringComparison.Ordinal);
        Assert.Equal(["admin"], created.GetProperty("apiKey").GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));

        using var admin = Fixture.Client(key);
        var keys = await (await admin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        Assert.Single(keys.GetProperty("items").EnumerateArray());
    }

    [SkippableFact]
    public async Task Creating_an_account_without_the_operator_key_is_401_and_with_another_key_403()
    {
        var account = await NewAccountAsync();
        using var anonymous = Fixture.Client();
        await (await anonymous.PostJsonAsync("/v1/accounts", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        using var tenant = account.Admin();
        await (await tenant.PostJsonAsync("/v1/accounts", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [SkippableFact]
    public async Task Account_creation_is_off_without_an_operator_key()
    {
        SkipIfUnavailable();
        await using var factory = Fixture.CreateFactory(b => b.UseSetting("Operator:ApiKey", string.Empty));
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiFixture.OperatorKey);
        await (await client.PostJsonAsync("/v1/accounts", new { name = "x" })).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [SkippableFact]
    public async Task Account_name_is_validated()
    {
        SkipIfUnavailable();
        using var op = Fixture.Client(ApiFixture.OperatorKey);
        var blank = await (await op.PostJsonAsync("/v1/accounts", new { name = "  " })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(blank.GetProperty("errors").TryGetProperty("name", out _));

        var missing = await (await op.PostJsonAsync("/v1/accounts", new { })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(missing.GetProperty("errors").TryGetProperty("/name", out _));
    }

    [SkippableFact]
    public async Task The_bootstrap_key_from_configuration_administers_the_default_account()
    {
        SkipIfUnavailable();
        using var client = Fixture.Client(ApiFixture.BootstrapKey);
        var keys = await (await client.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        Assert.Contains(keys.GetProperty("items").EnumerateArray(), k => k.GetProperty("name").GetString() == "bootstrap");
    }
}

[Collection(SqliteCollection.Name)]
public sealed class AccountsTests_Sqlite(SqliteApi fixture) : AccountsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class AccountsTests_Postgres(PostgresApi fixture) : AccountsTests<PostgresApi>(fixture);
