using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Connections;

/// <summary>Test sends against real receivers on 127.0.0.1: one test per outcome that can be produced here.</summary>
[Collection(SqliteCollection.Name)]
public sealed class TestSendTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private async Task<(HttpClient Admin, string Id)> ConnectionAsync(Dictionary<string, object?> body)
    {
        var account = await NewAccountAsync();
        var admin = account.Admin();
        return (admin, (await admin.CreateConnectionAsync(body)).Id());
    }

    [Fact]
    public async Task A_2xx_answer_is_ok_and_the_whole_exchange_is_returned()
    {
        var url = Fixture.Receiver.NewEndpoint(ctx =>
        {
            ctx.Response.Headers["X-Receiver"] = "yes";
            return ctx.Response.WriteAsync("{\"promo\":\"SAVE10\"}");
        });
        var (admin, id) = await ConnectionAsync(Builders.Connection(url).With("headers", new Dictionary<string, string> { ["X-Source"] = "crm" }));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id);

        Assert.Equal("ok", test.Str("outcome"));
        Assert.Equal(200, test.GetProperty("statusCode").GetInt32());
        Assert.Equal("POST", test.GetProperty("request").Str("method"));
        Assert.Equal("crm", test.GetProperty("request").GetProperty("headers").Str("X-Source"));
        Assert.Equal("yes", test.GetProperty("response").GetProperty("headers").Str("X-Receiver"));
        Assert.Equal("{\"promo\":\"SAVE10\"}", test.GetProperty("response").Str("body"));

        var arrived = Assert.Single(Fixture.Receiver.Received(url));
        Assert.Equal("crm", arrived.Header("X-Source"));
        var envelope = JsonDocument.Parse(arrived.BodyText).RootElement;
        Assert.Equal("webhook.test", envelope.Str("event"));
        Assert.Equal("john.doe@example.org", envelope.GetProperty("data").GetProperty("contact").Str("email"));
        Assert.Equal(arrived.Header("webhook-id"), envelope.Str("id"));
    }

    [Fact]
    public async Task A_receiver_that_does_not_answer_in_time_is_a_timeout()
    {
        var release = new TaskCompletionSource();
        var url = Fixture.Receiver.NewEndpoint(async ctx => await release.Task.WaitAsync(TimeSpan.FromSeconds(30), ctx.RequestAborted));
        var (admin, id) = await ConnectionAsync(Builders.Connection(url).With("timeoutSeconds", 1));
        using var _ = admin;
        try
        {
            var test = await admin.TestConnectionAsync(id);
            Assert.Equal("timeout", test.Str("outcome"));
            Assert.True(test.GetProperty("durationMs").GetInt32() >= 900);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task Nothing_listening_is_connection_refused()
    {
        var (admin, id) = await ConnectionAsync(Builders.Connection($"http://127.0.0.1:{ClosedPort()}/hook"));
        using var _ = admin;
        Assert.Equal("connection_refused", (await admin.TestConnectionAsync(id)).Str("outcome"));
    }

    [Fact]
    public async Task An_unknown_host_is_a_dns_failure()
    {
        var (admin, id) = await ConnectionAsync(Builders.Connection("http://no-such-host.test/hook"));
        using var _ = admin;
        Assert.Equal("dns_failure", (await admin.TestConnectionAsync(id)).Str("outcome"));
    }

    [Fact]
    public async Task An_untrusted_certificate_is_a_tls_failure()
    {
        await using var https = await Receiver.StartAsync(https: true);
        var (admin, id) = await ConnectionAsync(Builders.Connection(https.NewEndpoint()));
        using var _ = admin;
        var test = await admin.TestConnectionAsync(id);
        Assert.Equal("tls_failure", test.Str("outcome"));
    }

    [Fact]
    public async Task A_non_json_answer_when_json_is_expected_is_an_invalid_response_format()
    {
        var url = Fixture.Receiver.NewEndpoint(ctx => ctx.Response.WriteAsync("<html>hello</html>"));
        var (admin, id) = await ConnectionAsync(Builders.Connection(url).With("expectJsonResponse", true));
        using var _ = admin;
        var test = await admin.TestConnectionAsync(id);
        Assert.Equal("invalid_response_format", test.Str("outcome"));
        Assert.False(test.GetProperty("canActivate").GetBoolean());
    }

    [Fact]
    public async Task A_host_that_rebinds_to_a_forbidden_address_is_blocked_at_connect_time()
    {
        // Saved while "localhost" is allow-listed; sent by a node whose allow-list no longer has it:
        // the connect step sees 127.0.0.1 and refuses, whatever the save-time check said.
        var url = Fixture.Receiver.NewEndpoint().Replace("127.0.0.1", "localhost", StringComparison.Ordinal);
        var (admin, id) = await ConnectionAsync(Builders.Connection(url));
        using var _ = admin;
        await using var strict = Fixture.CreateFactory(b => b.UseSetting("Delivery:PrivateNetworkAllowList", "127.0.0.1"));
        using var client = strict.CreateClient();
        client.DefaultRequestHeaders.Authorization = admin.DefaultRequestHeaders.Authorization;

        var test = await client.TestConnectionAsync(id);

        Assert.Equal("url_blocked", test.Str("outcome"));
        Assert.Empty(Fixture.Receiver.Received(url));
    }

    [Fact]
    public async Task A_redirect_is_not_followed()
    {
        var target = Fixture.Receiver.NewEndpoint();
        var url = Fixture.Receiver.NewEndpoint(ctx => { ctx.Response.StatusCode = 302; ctx.Response.Headers.Location = target; return Task.CompletedTask; });
        var (admin, id) = await ConnectionAsync(Builders.Connection(url));
        using var _ = admin;
        var test = await admin.TestConnectionAsync(id);
        Assert.Equal("http_error", test.Str("outcome"));
        Assert.Equal(302, test.GetProperty("statusCode").GetInt32());
        Assert.Empty(Fixture.Receiver.Received(target));
    }

    [Fact]
    public async Task A_huge_answer_is_cut_at_64_KiB()
    {
        var url = Fixture.Receiver.NewEndpoint(async ctx =>
        {
            var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
            for (var i = 0; i < 16 && !ctx.RequestAborted.IsCancellationRequested; i++)
            {
                await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
            }
        });
        var (admin, id) = await ConnectionAsync(Builders.Connection(url));
        using var _ = admin;
        var test = await admin.TestConnectionAsync(id);
        Assert.Equal("ok", test.Str("outcome"));
        Assert.Equal(64 * 1024, test.GetProperty("response").Str("body").Length);
        Assert.True(test.GetProperty("response").GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task Every_request_is_signed_per_the_standard_webhooks_spec()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var created = await admin.CreateConnectionAsync(Builders.Connection(url));
        await admin.TestConnectionAsync(created.Id());

        var arrived = Assert.Single(Fixture.Receiver.Received(url));
        Assert.True(IndependentVerify(created.Str("signingSecret"), arrived), "signature does not verify");
        Assert.Matches("^msg_[0-9a-f]{32}$", arrived.Header("webhook-id")!);
        Assert.InRange(long.Parse(arrived.Header("webhook-timestamp")!, System.Globalization.CultureInfo.InvariantCulture),
            Fixture.Time.GetUtcNow().ToUnixTimeSeconds() - 5, Fixture.Time.GetUtcNow().ToUnixTimeSeconds() + 5);
    }

    [Fact]
    public async Task After_a_rotation_both_secrets_sign_for_24_hours()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var created = await admin.CreateConnectionAsync(Builders.Connection(url));
        var oldSecret = created.Str("signingSecret");
        var rotated = await (await admin.PostJsonAsync($"/v1/connections/{created.Id()}/rotate-secret", new { })).ReadJsonAsync();
        var newSecret = rotated.Str("signingSecret");
        Assert.NotEqual(oldSecret, newSecret);

        await admin.TestConnectionAsync(created.Id());
        var during = Fixture.Receiver.Received(url)[^1];
        Assert.Equal(2, during.Header("webhook-signature")!.Split(' ').Length);
        Assert.True(IndependentVerify(oldSecret, during));
        Assert.True(IndependentVerify(newSecret, during));

        Fixture.Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));
        await admin.TestConnectionAsync(created.Id());
        var after = Fixture.Receiver.Received(url)[^1];
        Assert.Single(after.Header("webhook-signature")!.Split(' '));
        Assert.True(IndependentVerify(newSecret, after));
        Assert.False(IndependentVerify(oldSecret, after));
    }

    [Theory]
    [InlineData("basic")]
    [InlineData("bearer")]
    [InlineData("api_key_header")]
    [InlineData("api_key_query")]
    public async Task Auth_connectors_reach_the_receiver_and_their_secrets_are_masked(string kind)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        const string secret = "s3cr3t-Value-42";
        object connector = kind switch
        {
            "basic" => new { name = "c", type = "basic", basic = new { username = "svc", password = secret } },
            "bearer" => new { name = "c", type = "bearer", bearer = new { token = secret } },
            "api_key_header" => new { name = "c", type = "api_key", apiKey = new { name = "X-Api-Key", value = secret, @in = "header" } },
            _ => new { name = "c", type = "api_key", apiKey = new { name = "key", value = secret, @in = "query" } },
        };
        var connectorId = (await (await admin.PostJsonAsync("/v1/auth-connectors", connector)).ReadJsonAsync(HttpStatusCode.Created)).Id();
        var url = Fixture.Receiver.NewEndpoint();
        var id = (await admin.CreateConnectionAsync(Builders.Connection(url).With("authConnectorId", connectorId))).Id();

        var test = await admin.TestConnectionAsync(id);

        Assert.Equal("ok", test.Str("outcome"));
        var arrived = Assert.Single(Fixture.Receiver.Received(url));
        switch (kind)
        {
            case "basic":
                Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:" + secret)), arrived.Header("Authorization"));
                break;
            case "bearer":
                Assert.Equal("Bearer " + secret, arrived.Header("Authorization"));
                break;
            case "api_key_header":
                Assert.Equal(secret, arrived.Header("X-Api-Key"));
                break;
            default:
                Assert.Contains("key=" + secret, arrived.Query, StringComparison.Ordinal);
                break;
        }

        var shown = test.GetRawText();
        Assert.DoesNotContain(secret, shown, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:" + secret)), shown, StringComparison.Ordinal);
        Assert.Contains("****", shown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_custom_sample_contact_is_rendered_into_the_request()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (admin, id) = await ConnectionAsync(Builders.Connection(url));
        using var _ = admin;
        await admin.TestConnectionAsync(id, new { contact = new { id = "c-9", email = "ana@example.com" }, @event = new { orderId = "X-1" } });
        var envelope = JsonDocument.Parse(Assert.Single(Fixture.Receiver.Received(url)).BodyText).RootElement.GetProperty("data");
        Assert.Equal("ana@example.com", envelope.GetProperty("contact").Str("email"));
        Assert.Equal("X-1", envelope.GetProperty("event").Str("orderId"));
    }

    /// <summary>The spec's algorithm, written from its text: not the service's signer.</summary>
    private static bool IndependentVerify(string secret, ReceivedRequest request)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}.").Concat(request.Body).ToArray();
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        return request.Header("webhook-signature")!.Split(' ').Contains(expected);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
