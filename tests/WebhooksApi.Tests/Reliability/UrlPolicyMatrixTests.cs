using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebhooksApi.Security;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Every internal destination, every way it can be reached, through the API of a node with
/// production settings (https only, empty allow-list): written as an address in any IPv4 or
/// IPv6 spelling, behind a name that resolves to it when the URL is saved, behind a name that
/// resolves to it only when the request is sent (DNS rebinding), and behind a redirect.
/// The unit matrix (Unit/UrlPolicyTests) covers the policy's parsing; this proves the wiring.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class UrlPolicyMatrixTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture), IAsyncLifetime
{
    private const string Public = "93.184.216.34";
    private readonly ScriptedResolver _dns = new();
    private WebApplicationFactory<Program> _strict = null!;

    public Task InitializeAsync()
    {
        _strict = Fixture.CreateFactory(b =>
        {
            b.UseSetting("Delivery:AllowHttp", "false");
            b.UseSetting("Delivery:PrivateNetworkAllowList", string.Empty);
            b.ConfigureServices(s => s.Replace(ServiceDescriptor.Singleton<IHostResolver>(_dns)));
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _strict.DisposeAsync();

    /// <summary>Every forbidden range, as the address a resolver could answer with.</summary>
    public static TheoryData<string> ForbiddenAddresses() =>
    [
        "127.0.0.1", "127.255.255.254", "0.0.0.0", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1",
        "169.254.169.254", "169.254.1.1", "100.100.100.200", "192.0.0.192", "224.0.0.1", "239.255.255.250",
        "255.255.255.255", "240.0.0.1", "198.18.0.1",
        "::1", "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::a00:1",
        "fd00:ec2::254", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1",
        "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:db8::1", "100::1",
    ];

    [Theory]
    // http:// and credentials in the URL
    [InlineData("http://public.test/hook")]
    [InlineData("https://user:secret@public.test/hook")]
    [InlineData("https://user@public.test/hook")]
    [InlineData("https://:@public.test/hook")]
    // loopback in every IPv4 spelling: decimal, octal, hex, mixed, short forms
    [InlineData("https://2130706433/hook")]
    [InlineData("https://017700000001/hook")]
    [InlineData("https://0177.0.0.1/hook")]
    [InlineData("https://0177.1/hook")]
    [InlineData("https://0x7f000001/hook")]
    [InlineData("https://0x7f.0x0.0x0.0x1/hook")]
    [InlineData("https://0x7f.1/hook")]
    [InlineData("https://127.1/hook")]
    [InlineData("https://127.0.1/hook")]
    [InlineData("https://127.000.000.001/hook")]
    [InlineData("https://127.0.0.1./hook")]
    // other private ranges in short and numeric forms
    [InlineData("https://10.1/hook")]
    [InlineData("https://167772161/hook")]
    [InlineData("https://0xa000001/hook")]
    [InlineData("https://012.0.0.1/hook")]
    [InlineData("https://3232235777/hook")]
    [InlineData("https://0xc0a80101/hook")]
    [InlineData("https://192.168.257/hook")]
    [InlineData("https://2886729729/hook")]
    [InlineData("https://1681915905/hook")] // 100.64.0.1
    // metadata endpoints
    [InlineData("https://169.254.169.254/latest/meta-data/")]
    [InlineData("https://2852039166/latest/meta-data/")]
    [InlineData("https://0xa9fea9fe/latest/meta-data/")]
    [InlineData("https://0251.0376.0251.0376/latest/meta-data/")]
    [InlineData("https://169.254.43518/latest/meta-data/")]
    [InlineData("https://[fd00:ec2::254]/latest/meta-data/")]
    [InlineData("https://100.100.100.200/latest/meta-data/")]
    // unspecified, broadcast, multicast
    [InlineData("https://0/hook")]
    [InlineData("https://0.0.0.0/hook")]
    [InlineData("https://[::]/hook")]
    [InlineData("https://255.255.255.255/hook")]
    [InlineData("https://224.0.0.251/hook")]
    [InlineData("https://[ff02::1]/hook")]
    // IPv6 loopback, link-local, unique-local
    [InlineData("https://[::1]/hook")]
    [InlineData("https://[0:0:0:0:0:0:0:1]/hook")]
    [InlineData("https://[fe80::1]/hook")]
    [InlineData("https://[fc00::1]/hook")]
    [InlineData("https://[fdff:ffff::1]/hook")]
    // IPv4 inside IPv6: mapped, compatible, NAT64 (well-known and local-use), 6to4, Teredo
    [InlineData("https://[::ffff:127.0.0.1]/hook")]
    [InlineData("https://[::ffff:7f00:1]/hook")]
    [InlineData("https://[::ffff:a9fe:a9fe]/hook")]
    [InlineData("https://[::ffff:10.0.0.1]/hook")]
    [InlineData("https://[::127.0.0.1]/hook")]
    [InlineData("https://[64:ff9b::7f00:1]/hook")]
    [InlineData("https://[64:ff9b::127.0.0.1]/hook")]
    [InlineData("https://[64:ff9b::a9fe:a9fe]/hook")]
    [InlineData("https://[64:ff9b::c0a8:101]/hook")]
    [InlineData("https://[64:ff9b:1::a00:1]/hook")]
    [InlineData("https://[2002:7f00:1::1]/hook")]
    [InlineData("https://[2002:a9fe:a9fe::]/hook")]
    [InlineData("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook")]
    // names of this machine
    [InlineData("https://localhost/hook")]
    [InlineData("https://LOCALHOST./hook")]
    [InlineData("https://api.localhost/hook")]
    public async Task Every_spelling_of_an_internal_destination_is_refused_at_save_time(string url)
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);

        await AssertUrlRefusedAsync(client, url);
    }

    [Theory]
    [MemberData(nameof(ForbiddenAddresses))]
    public async Task A_name_resolving_to_an_internal_address_is_refused_at_save_time(string address)
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);
        var host = _dns.NewName(IPAddress.Parse(address));

        await AssertUrlRefusedAsync(client, $"https://{host}/hook");
        // One bad address among good ones is enough: the connection could be sent to it.
        var mixed = _dns.NewName(IPAddress.Parse(Public), IPAddress.Parse(address));
        await AssertUrlRefusedAsync(client, $"https://{mixed}/hook");
    }

    [Theory]
    [MemberData(nameof(ForbiddenAddresses))]
    public async Task A_name_that_rebinds_to_an_internal_address_after_saving_is_blocked_at_connect_time(string address)
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);
        var host = _dns.NewName(IPAddress.Parse(Public));
        var id = (await client.CreateConnectionAsync(Builders.Connection($"https://{host}/hook").With("timeoutSeconds", 1))).Id();

        _dns.Set(host, IPAddress.Parse(address));
        var test = await client.TestConnectionAsync(id);

        Assert.Equal("url_blocked", test.Str("outcome"));
        Assert.Contains(IPAddress.Parse(address).ToString(), test.Str("error"), StringComparison.Ordinal);
        Assert.False(test.GetProperty("canActivate").GetBoolean());
        var logged = await client.GetJsonAsync($"/v1/logs/{test.Str("attemptId")}");
        Assert.Equal("url_blocked", logged.Str("outcome"));
    }

    [Fact]
    public async Task A_rebinding_name_never_opens_a_connection_to_the_loopback_receiver()
    {
        var account = await NewAccountAsync();
        using var client = Strict(account);
        await using var listener = HostileServer.Start(e => e.AnswerAsync(200));
        var host = _dns.NewName(IPAddress.Parse(Public));
        var id = (await client.CreateConnectionAsync(Builders.Connection($"https://{host}:{listener.Port}/hook").With("timeoutSeconds", 1))).Id();

        // Every answer now points at this machine, in both families: none may be dialled.
        _dns.Set(host, IPAddress.Loopback, IPAddress.Parse("::ffff:127.0.0.1"), IPAddress.IPv6Loopback);
        Assert.Equal("url_blocked", (await client.TestConnectionAsync(id)).Str("outcome"));
        Assert.Equal(0, listener.Accepted);
    }

    [Fact]
    public async Task The_dispatcher_checks_the_address_again_when_it_connects()
    {
        SkipIfUnavailable();
        // Node "editor" (dispatcher off) allow-lists the name, so the connection is saved, tested
        // and activated against the loopback receiver; node "sender", on the same database,
        // does not: its deliveries meet the connect-time check, as after a DNS rebinding.
        var receiver = new Uri(Fixture.Receiver.NewEndpoint());
        var host = _dns.NewName(IPAddress.Loopback);
        var url = $"http://{host}:{receiver.Port}{receiver.AbsolutePath}";
        await using var editor = await PrivateNode.StartAsync(Fixture, UseScriptedDns, ("Delivery:DispatcherEnabled", "false"), ("Delivery:PrivateNetworkAllowList", host));
        await using var sender = editor.Sibling(Fixture, UseScriptedDns, ("Delivery:PrivateNetworkAllowList", ""));
        var step = await editor.ActiveStepAsync(url, Builders.Connection(url));
        Assert.Single(Fixture.Receiver.Received(url.Replace(host, "127.0.0.1", StringComparison.Ordinal)));

        var viaSender = step with { Admin = sender.Admin };
        var id = (await viaSender.ExecuteAsync(EngineBuilders.Contact("rebound"))).GetProperty("items")[0].Id();
        var delivery = await Eventually.WaitAsync(() => viaSender.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() >= 1 && d.Str("status") != "delivering", "the blocked attempt");

        Assert.Equal("pending", delivery.Str("status"));
        Assert.Equal("url_blocked", delivery.GetProperty("lastResponse").Str("outcome"));
        Assert.Single(Fixture.Receiver.Received(url.Replace(host, "127.0.0.1", StringComparison.Ordinal)));
    }

    private void UseScriptedDns(IWebHostBuilder builder) =>
        builder.ConfigureServices(s => s.Replace(ServiceDescriptor.Singleton<IHostResolver>(_dns)));

    [Theory]
    [InlineData(302, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")]
    [InlineData(307, "http://[fd00:ec2::254]/latest/meta-data/")]
    [InlineData(301, "http://2130706433/admin")]
    [InlineData(308, "http://[64:ff9b::a9fe:a9fe]/")]
    [InlineData(303, "http://localhost/")]
    public async Task A_redirect_to_an_internal_address_is_an_http_error_not_a_request_to_it(int status, string location)
    {
        // The node's allow-list lets the test reach its own receiver on 127.0.0.1; the redirect
        // would be url_blocked if followed, so http_error with the 3xx proves it was not.
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(ctx =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.Headers.Location = location;
            return Task.CompletedTask;
        });
        using var admin = account.Admin();
        var id = (await admin.CreateConnectionAsync(Builders.Connection(url))).Id();

        var test = await admin.TestConnectionAsync(id);

        Assert.Equal("http_error", test.Str("outcome"));
        Assert.Equal(status, test.GetProperty("statusCode").GetInt32());
        Assert.Equal(new Uri(location), new Uri(test.GetProperty("response").GetProperty("headers").Str("Location")));
        Assert.Single(Fixture.Receiver.Received(url));
    }

    private static async Task AssertUrlRefusedAsync(HttpClient client, string url)
    {
        var response = await client.PostJsonAsync("/v1/connections", Builders.Connection(url));
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("url", out var errors), $"{url}: {problem.GetRawText()}");
        Assert.False(string.IsNullOrWhiteSpace(errors[0].GetString()));
    }

    private HttpClient Strict(TestAccount account)
    {
        var client = _strict.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", account.AdminKey);
        return client;
    }

    /// <summary>DNS whose answers a test sets and changes: a fresh name per case, so cases never share an answer.</summary>
    private sealed class ScriptedResolver : IHostResolver
    {
        private readonly ConcurrentDictionary<string, IPAddress[]> _answers = new(StringComparer.OrdinalIgnoreCase);

        public string NewName(params IPAddress[] addresses)
        {
            var name = $"h{Guid.NewGuid():N}.rebind.test";
            _answers[name] = addresses;
            return name;
        }

        public void Set(string name, params IPAddress[] addresses) => _answers[name] = addresses;

        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            _answers.TryGetValue(host.TrimEnd('.'), out var addresses)
                ? Task.FromResult(addresses)
                : TestResolverFallback(host);

        private static Task<IPAddress[]> TestResolverFallback(string host) =>
            host.TrimEnd('.') == "public.test"
                ? Task.FromResult(new[] { IPAddress.Parse(Public) })
                : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
    }
}
