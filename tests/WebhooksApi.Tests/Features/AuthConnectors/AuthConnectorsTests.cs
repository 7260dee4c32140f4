using System.Net;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.AuthConnectors;

public abstract class AuthConnectorsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task Connectors_of_each_type_are_created_and_never_show_their_secrets()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var basic = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "crm", type = "basic", basic = new { username = "svc", password = "pa55-basic-secret" } })).ReadJsonAsync(HttpStatusCode.Created);
        var bearer = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "slack", type = "bearer", bearer = new { token = "tok-bearer-secret" } })).ReadJsonAsync(HttpStatusCode.Created);
        var apiKey = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "mail", type = "api_key", apiKey = new { name = "X-Api-Key", value = "key-value-secret", @in = "header" } })).ReadJsonAsync(HttpStatusCode.Created);

        Assert.Equal("svc", basic.GetProperty("basic").Str("username"));
        Assert.Equal("header", apiKey.GetProperty("apiKey").Str("in"));
        var everything = basic.GetRawText() + bearer.GetRawText() + apiKey.GetRawText()
            + (await admin.GetJsonAsync("/v1/auth-connectors")).GetRawText()
            + (await admin.GetJsonAsync($"/v1/auth-connectors/{basic.Id()}")).GetRawText();
        foreach (var secret in (string[])["pa55-basic-secret", "tok-bearer-secret", "key-value-secret"])
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task Credentials_must_match_the_type()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var problem = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "x", type = "basic", bearer = new { token = "t" } })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("basic", out _));
        await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "x", type = "oauth" })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        var header = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "x", type = "api_key", apiKey = new { name = "Bad Header", value = "v" } })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(header.GetProperty("errors").TryGetProperty("apiKey.name", out _));
    }

    [SkippableFact]
    public async Task A_connector_in_use_cannot_be_deleted_and_an_unused_one_can()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var connector = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "crm", type = "bearer", bearer = new { token = "t-123" } })).ReadJsonAsync(HttpStatusCode.Created);
        var connection = await admin.CreateConnectionAsync(Builders.Connection(Fixture.Receiver.NewEndpoint()).With("authConnectorId", connector.Id()));

        await (await admin.DeleteAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");

        var patched = await admin.PatchAsync(new Uri($"/v1/connections/{connection.Id()}", UriKind.Relative), JsonContent("{\"authConnectorId\": null}"));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative))).StatusCode);
        await (await admin.GetAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [SkippableFact]
    public async Task Replacing_credentials_returns_connections_using_them_to_pending()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var connector = await (await admin.PostJsonAsync("/v1/auth-connectors", new { name = "crm", type = "bearer", bearer = new { token = "old-token" } })).ReadJsonAsync(HttpStatusCode.Created);
        var connection = await admin.CreateConnectionAsync(Builders.Connection(Fixture.Receiver.NewEndpoint()).With("authConnectorId", connector.Id()));
        Assert.Equal("ok", (await admin.TestConnectionAsync(connection.Id())).Str("outcome"));
        Assert.Equal("active", (await (await admin.ActionAsync(connection.Id(), "activate")).ReadJsonAsync()).Str("status"));

        var renamed = await admin.PatchAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative), JsonContent("{\"name\": \"crm prod\"}"));
        Assert.Equal("crm prod", (await renamed.ReadJsonAsync()).Str("name"));
        Assert.Equal("active", (await admin.GetJsonAsync($"/v1/connections/{connection.Id()}")).Str("status"));

        (await admin.PatchAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative), JsonContent("{\"type\": \"bearer\", \"bearer\": {\"token\": \"new-token\"}}"))).EnsureSuccessStatusCode();
        Assert.Equal("pending", (await admin.GetJsonAsync($"/v1/connections/{connection.Id()}")).Str("status"));
    }

    [SkippableFact]
    public async Task Another_accounts_connector_is_not_found_and_cannot_be_referenced()
    {
        var mine = await NewAccountAsync();
        var theirs = await NewAccountAsync();
        using var theirAdmin = theirs.Admin();
        var connector = await (await theirAdmin.PostJsonAsync("/v1/auth-connectors", new { name = "x", type = "bearer", bearer = new { token = "t-xyz" } })).ReadJsonAsync(HttpStatusCode.Created);

        using var myAdmin = mine.Admin();
        await (await myAdmin.GetAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await myAdmin.DeleteAsync(new Uri($"/v1/auth-connectors/{connector.Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);
        var problem = await (await myAdmin.PostJsonAsync("/v1/connections", Builders.Connection(Fixture.Receiver.NewEndpoint()).With("authConnectorId", connector.Id()))).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("authConnectorId", out _));
        Assert.Empty((await myAdmin.GetJsonAsync("/v1/auth-connectors")).GetProperty("items").EnumerateArray());
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
}

[Collection(SqliteCollection.Name)]
public sealed class AuthConnectorsTests_Sqlite(SqliteApi fixture) : AuthConnectorsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class AuthConnectorsTests_Postgres(PostgresApi fixture) : AuthConnectorsTests<PostgresApi>(fixture);
