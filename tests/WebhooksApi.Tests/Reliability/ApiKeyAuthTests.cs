using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Reliability;

/// <summary>API keys at the door: failed-authentication limits per client address, and revocation across nodes.</summary>
[Collection(SqliteCollection.Name)]
public sealed class ApiKeyAuthTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private static HttpClient ClientOf(WebApplicationFactory<Program> factory, string? key)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = key is null ? null : new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private static Task<HttpResponseMessage> ListAsync(HttpClient client) => client.GetAsync(new Uri("/v1/connections", UriKind.Relative));

    [SkippableFact]
    public async Task After_the_limit_of_refused_keys_an_address_gets_429_with_retry_after_until_the_window_ends()
    {
        var account = await NewAccountAsync();
        // Its own node with a low limit: the shared app's default is far above what the suite's
        // deliberate bad keys reach, and every test client has the same (test-server) address.
        await using var node = Fixture.CreateFactory(b => b.UseSetting("Security:FailedAuthLimit", "5").UseSetting("Security:FailedAuthWindowSeconds", "60"));
        using var good = ClientOf(node, account.AdminKey);
        using var bad = ClientOf(node, "whk_" + new string('b', 43));
        using var anonymous = ClientOf(node, null);

        for (var i = 0; i < 20; i++)
        {
            // Successful authentication is never counted.
            Assert.Equal(HttpStatusCode.OK, (await ListAsync(good)).StatusCode);
        }

        for (var i = 0; i < 5; i++)
        {
            await (await ListAsync(bad)).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }

        var limited = await ListAsync(bad);
        await limited.AssertProblemAsync(HttpStatusCode.TooManyRequests, "too-many-failed-authentications");
        var retryAfter = limited.Headers.RetryAfter?.Delta ?? throw new InvalidOperationException("no Retry-After");
        Assert.InRange(retryAfter.TotalSeconds, 1, 60);
        // The right key is refused too while the address is limited: otherwise a guesser would
        // still learn which of its guesses is right.
        await (await ListAsync(good)).AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        await (await ListAsync(anonymous)).AssertProblemAsync(HttpStatusCode.Unauthorized);

        Fixture.Time.Advance(retryAfter - TimeSpan.FromSeconds(1));
        await (await ListAsync(good)).AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Fixture.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await ListAsync(good)).StatusCode);
        await (await ListAsync(bad)).AssertProblemAsync(HttpStatusCode.Unauthorized);

        // Wrong operator keys count as well.
        Fixture.Time.Advance(TimeSpan.FromSeconds(61));
        using var wrongOperator = ClientOf(node, "not-the-operator-key");
        for (var i = 0; i < 5; i++)
        {
            await (await wrongOperator.PostJsonAsync("/v1/accounts", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Forbidden);
        }

        await (await wrongOperator.PostJsonAsync("/v1/accounts", new { name = "x" })).AssertProblemAsync(HttpStatusCode.TooManyRequests);
    }

    [SkippableFact]
    public async Task A_revoked_key_is_refused_on_the_next_request_by_every_node()
    {
        var account = await NewAccountAsync();
        var key = await account.KeyWithScopesAsync("connections:manage");
        await using var otherNode = Fixture.CreateFactory(_ => { });
        using var onOtherNode = ClientOf(otherNode, key);
        Assert.Equal(HttpStatusCode.OK, (await ListAsync(onOtherNode)).StatusCode);

        using var admin = account.Admin();
        var keys = await admin.GetJsonAsync("/v1/api-keys");
        var id = keys.GetProperty("items").EnumerateArray().Single(k => key.StartsWith(k.Str("prefix"), StringComparison.Ordinal) && k.Str("name") == "scoped").Id();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync(new Uri($"/v1/api-keys/{id}", UriKind.Relative))).StatusCode);

        await (await ListAsync(onOtherNode)).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var onThisNode = Fixture.Client(key);
        await (await ListAsync(onThisNode)).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }
}
