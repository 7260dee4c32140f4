using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Security;

/// <summary>The URL policy as users meet it: a 400 naming `url`, on a node with production settings (https only, no allow-list).</summary>
[Collection(SqliteCollection.Name)]
public sealed class UrlPolicyApiTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture), IAsyncLifetime
{
    private WebApplicationFactory<Program> _strict = null!;

    public Task InitializeAsync()
    {
        _strict = Fixture.CreateFactory(b =>
        {
            b.UseSetting("Delivery:AllowHttp", "false");
            b.UseSetting("Delivery:PrivateNetworkAllowList", string.Empty);
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _strict.DisposeAsync();

    [Theory]
    [InlineData("http://public.test/hook")]
    [InlineData("https://user:pw@public.test/hook")]
    [InlineData("https://127.0.0.1/hook")]
    [InlineData("https://2130706433/hook")]
    [InlineData("https://0177.0.0.1/hook")]
    [InlineData("https://0x7f.0.0.1/hook")]
    [InlineData("https://0x7f000001/hook")]
    [InlineData("https://127.1/hook")]
    [InlineData("https://0/hook")]
    [InlineData("https://[::1]/hook")]
    [InlineData("https://[::ffff:127.0.0.1]/hook")]
    [InlineData("https://[::ffff:7f00:1]/hook")]
    [InlineData("https://[64:ff9b::7f00:1]/hook")]
    [InlineData("https://10.0.0.1/hook")]
    [InlineData("https://172.16.5.4/hook")]
    [InlineData("https://192.168.0.10/hook")]
    [InlineData("https://100.64.0.1/hook")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://[fd00:ec2::254]/latest")]
    [InlineData("https://[fe80::1]/hook")]
    [InlineData("https://224.0.0.1/hook")]
    [InlineData("https://localhost/hook")]
    [InlineData("https://localhost./hook")]
    [InlineData("https://internal.test/hook")]
    [InlineData("https://metadata.test/hook")]
    [InlineData("https://mapped.test/hook")]
    [InlineData("https://mixed.test/hook")]
    [InlineData("https://receiver.test/{{contact.email}}")]
    public async Task Private_and_internal_destinations_are_refused_at_save_time(string url)
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);
        var problem = await (await client.PostJsonAsync("/v1/connections", Builders.Connection(url))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("url", out _), problem.GetRawText());
    }

    [Fact]
    public async Task A_public_https_destination_is_accepted_and_an_edit_to_a_private_one_is_refused()
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);
        var created = await client.CreateConnectionAsync(Builders.Connection("https://public.test/hook"));
        var edit = await client.PatchAsync(new Uri($"/v1/connections/{created.Id()}", UriKind.Relative),
            new StringContent("{\"url\": \"https://169.254.169.254/\"}", System.Text.Encoding.UTF8, "application/json"));
        await edit.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
    }

    private HttpClient Strict(TestAccount account)
    {
        var client = _strict.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", account.AdminKey);
        return client;
    }
}
