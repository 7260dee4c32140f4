using System.Net;
using System.Net.Sockets;
using System.Text;
using WebhooksApi.Security;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// The URL policy. Nothing here reaches DNS or any address outside 127.0.0.0/8: names are
/// answered by <see cref="FakeResolver"/>, and the only sockets opened go to loopback listeners.
/// </summary>
public sealed class UrlPolicyTests
{
    private const string Public = "93.184.216.34";

    // ---- IsForbidden ----------------------------------------------------------------------

    [Theory]
    // loopback
    [InlineData("127.0.0.0")]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.255")]
    [InlineData("::1")]
    // private
    [InlineData("10.0.0.0")]
    [InlineData("10.255.255.255")]
    [InlineData("172.16.0.0")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.0.0")]
    [InlineData("192.168.255.255")]
    [InlineData("fc00::")]
    [InlineData("fd12:3456:789a::1")]
    [InlineData("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    // link-local
    [InlineData("169.254.0.0")]
    [InlineData("169.254.255.255")]
    [InlineData("fe80::")]
    [InlineData("fe80::1")]
    [InlineData("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    // CGNAT
    [InlineData("100.64.0.0")]
    [InlineData("100.127.255.255")]
    // multicast
    [InlineData("224.0.0.0")]
    [InlineData("239.255.255.255")]
    [InlineData("ff00::")]
    [InlineData("ff02::1")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    // unspecified and broadcast
    [InlineData("0.0.0.0")]
    [InlineData("0.255.255.255")]
    [InlineData("::")]
    [InlineData("255.255.255.255")]
    // cloud metadata
    [InlineData("169.254.169.254")]
    [InlineData("fd00:ec2::254")]
    [InlineData("100.100.100.200")]
    [InlineData("192.0.0.192")]
    // other special ranges
    [InlineData("192.0.0.0")]
    [InlineData("192.0.0.255")]
    [InlineData("198.18.0.0")]
    [InlineData("198.19.255.255")]
    [InlineData("240.0.0.0")]
    [InlineData("255.255.255.254")]
    [InlineData("192.0.2.0")]
    [InlineData("192.0.2.255")]
    [InlineData("198.51.100.0")]
    [InlineData("198.51.100.255")]
    [InlineData("203.0.113.0")]
    [InlineData("203.0.113.255")]
    [InlineData("192.88.99.1")]
    [InlineData("2001:db8::")]
    [InlineData("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("fec0::")]
    [InlineData("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("100::")]
    [InlineData("100::ffff:ffff:ffff:ffff")]
    [InlineData("64:ff9b:1::a00:1")]
    [InlineData("64:ff9b:1::808:808")]
    [InlineData("2001:2::1")]
    [InlineData("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("3fff::")]
    [InlineData("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff")]
    // outside IPv6 global unicast
    [InlineData("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("4000::")]
    // IPv4 embedded in IPv6
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:0.0.0.0")]
    [InlineData("::127.0.0.1")]
    [InlineData("::10.0.0.1")]
    [InlineData("::ffff:0:7f00:1")]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("64:ff9b::192.168.1.1")]
    [InlineData("2002:7f00:1::1")]
    [InlineData("2002:a00:1::")]
    [InlineData("2002:a9fe:a9fe:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("2001:0:4136:e378:8000:63bf:80ff:fffe")] // Teredo client 127.0.0.1
    [InlineData("2001:0:4136:e378:8000:63bf:5601:56ab")] // Teredo client 169.254.169.84
    [InlineData("2001:0:a00:1:8000:63bf:f7f7:f7f7")] // Teredo server 10.0.0.1
    public void Forbidden_addresses_are_refused(string address)
    {
        Assert.True(UrlPolicy.IsForbidden(IPAddress.Parse(address)));
        Assert.NotNull(UrlPolicy.DescribeForbidden(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData(Public)]
    // just outside the forbidden ranges
    [InlineData("1.0.0.0")]
    [InlineData("9.255.255.255")]
    [InlineData("11.0.0.0")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("126.255.255.255")]
    [InlineData("128.0.0.0")]
    [InlineData("169.253.255.255")]
    [InlineData("169.255.0.0")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("191.255.255.255")]
    [InlineData("192.0.1.0")]
    [InlineData("192.0.3.0")]
    [InlineData("192.167.255.255")]
    [InlineData("192.169.0.0")]
    [InlineData("198.17.255.255")]
    [InlineData("198.20.0.0")]
    [InlineData("223.255.255.255")]
    [InlineData("2000::1")]
    [InlineData("2001:200::1")]
    [InlineData("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("2001:db9::")]
    [InlineData("3fff:1000::")]
    [InlineData("2a00:1450:4001::200e")]
    // embedded forms whose IPv4 address is public
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("::8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:808:808::1")]
    [InlineData("2001:0:4136:e378:8000:63bf:f7f7:f7f7")] // Teredo server 65.54.227.120, client 8.8.8.8
    public void Public_addresses_are_allowed(string address)
    {
        Assert.False(UrlPolicy.IsForbidden(IPAddress.Parse(address)));
        Assert.Null(UrlPolicy.DescribeForbidden(IPAddress.Parse(address)));
    }

    [Fact]
    public void Descriptions_name_the_range_and_the_embedded_address()
    {
        Assert.Equal("a cloud metadata endpoint (169.254.169.254)", UrlPolicy.DescribeForbidden(IPAddress.Parse("169.254.169.254")));
        Assert.Equal(
            "a NAT64 form of 127.0.0.1, which is loopback (127.0.0.0/8)",
            UrlPolicy.DescribeForbidden(IPAddress.Parse("64:ff9b::7f00:1")));
        Assert.Equal(
            "a Teredo client form of 127.0.0.1, which is loopback (127.0.0.0/8)",
            UrlPolicy.DescribeForbidden(IPAddress.Parse("2001:0:4136:e378:8000:63bf:80ff:fffe")));
    }

    // ---- What System.Uri does with odd spellings (the policy must not depend on it) -------------

    [Theory]
    [InlineData("http://2130706433/", "127.0.0.1", UriHostNameType.IPv4)]
    [InlineData("http://0177.0.0.1/", "127.0.0.1", UriHostNameType.IPv4)]
    [InlineData("http://0x7f.0.0.1/", "127.0.0.1", UriHostNameType.IPv4)]
    [InlineData("http://0x7f000001/", "127.0.0.1", UriHostNameType.IPv4)]
    [InlineData("http://127.1/", "127.0.0.1", UriHostNameType.IPv4)]
    [InlineData("http://0/", "0.0.0.0", UriHostNameType.IPv4)]
    [InlineData("http://[::ffff:7f00:1]/", "[::ffff:127.0.0.1]", UriHostNameType.IPv6)]
    [InlineData("http://[64:ff9b::7f00:1]/", "[64:ff9b::7f00:1]", UriHostNameType.IPv6)]
    // Not seen as addresses: these reach DNS unless the policy stops them.
    [InlineData("http://127.0.0.1./", "127.0.0.1.", UriHostNameType.Dns)]
    [InlineData("http://2130706433./", "2130706433.", UriHostNameType.Dns)]
    [InlineData("http://256.0.0.1/", "256.0.0.1", UriHostNameType.Dns)]
    [InlineData("http://08.0.0.1/", "08.0.0.1", UriHostNameType.Dns)]
    [InlineData("http://4294967296/", "4294967296", UriHostNameType.Dns)]
    [InlineData("http://localhost./", "localhost.", UriHostNameType.Dns)]
    public void Uri_canonicalises_some_IPv4_spellings_and_passes_others_on_as_names(string url, string host, UriHostNameType type)
    {
        var uri = new Uri(url);
        Assert.Equal(host, uri.Host);
        Assert.Equal(type, uri.HostNameType);
    }

    [Fact]
    public void Uri_IDN_mapping_turns_ideographic_full_stops_into_an_IPv4_address_in_IdnHost()
    {
        var uri = new Uri("http://127\u30020\u30020\u30021/");
        Assert.Equal(UriHostNameType.Dns, uri.HostNameType);
        Assert.Equal("127.0.0.1", uri.IdnHost);
    }

    // ---- CheckSyntax / CheckAsync: every spelling -------------------------------------------

    [Theory]
    [InlineData("http://127.0.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://2130706433/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0177.0.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://00000177.0.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0x7f.0.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0x7f.0x0.0x0.0x1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0x7f000001/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://017700000001/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://127.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://127.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://127.000.000.001/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0.0.0.0/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://0300.0250.0.1/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://3232235521/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://10.0.0.1:8080/hook", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://169.254.169.254/latest/meta-data/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://100.100.100.200/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://192.0.0.192/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[fd00:ec2::254]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::ffff:127.0.0.1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::ffff:7f00:1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[0:0:0:0:0:ffff:127.0.0.1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::ffff:a9fe:a9fe]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[::127.0.0.1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[64:ff9b::7f00:1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[64:ff9b::127.0.0.1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[2002:7f00:1::1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://[fe80::1]/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://localhost/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://LOCALHOST:8080/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://localhost./", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://foo.localhost/", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://foo.localhost./", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("http://a.b.LocalHost/", UrlCheckReasons.ForbiddenAddress)]
    // numeric-looking hosts that Uri leaves as names: never handed to DNS
    [InlineData("http://127.0.0.1./", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://2130706433./", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://0x7f.1./", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://256.0.0.1/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://08.0.0.1/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://1.2.3.4.5/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://4294967296/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://0x7g.0.0.1/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://0x/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://example.0x7f/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://127\u30020\u30020\u30021/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://8\u30028\u30028\u30028/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://[fe80::1%25eth0]/", UrlCheckReasons.InvalidUrl)]
    [InlineData("http://[::ffff:127.0.0.1%25eth0]/", UrlCheckReasons.InvalidUrl)]
    public async Task Every_spelling_of_an_internal_host_is_refused_without_asking_DNS(string url, string reason)
    {
        // The resolver would say "public": a refusal proves the policy decided without it.
        var resolver = FakeResolver.Returning(Public);
        var policy = Policy(allowHttp: true, resolver: resolver);

        var syntax = policy.CheckSyntax(url);
        var full = await policy.CheckAsync(url, CancellationToken.None);

        Assert.False(syntax.Allowed);
        Assert.Equal(reason, syntax.Reason);
        Assert.False(string.IsNullOrWhiteSpace(syntax.Message));
        Assert.Null(syntax.Uri);
        Assert.False(full.Allowed);
        Assert.Equal(reason, full.Reason);
        Assert.Empty(resolver.Queries);
    }

    [Theory]
    [InlineData("https://example.com/webhooks", "example.com")]
    [InlineData("https://EXAMPLE.com./webhooks?x=1", "example.com.")]
    [InlineData("https://123.example.com/", "123.example.com")]
    [InlineData("https://1e1/", "1e1")]
    [InlineData("https://12.34.56.78x/", "12.34.56.78x")]
    [InlineData("https://b\u00fccher.example/", "xn--bcher-kva.example")]
    public async Task Public_names_are_resolved_as_written_and_allowed(string url, string query)
    {
        var resolver = FakeResolver.Returning(Public);
        var policy = Policy(resolver: resolver);

        Assert.True(policy.CheckSyntax(url).Allowed);
        var result = await policy.CheckAsync(url, CancellationToken.None);

        Assert.True(result.Allowed);
        Assert.Equal(new Uri(url), result.Uri);
        Assert.Null(result.Reason);
        Assert.Equal([query], resolver.Queries);
    }

    [Theory]
    [InlineData("https://8.8.8.8/hook")]
    [InlineData("https://1.1.1.1:8443/")]
    [InlineData("https://[2606:4700:4700::1111]/")]
    [InlineData("https://[::ffff:8.8.8.8]/")]
    public async Task Public_address_literals_are_allowed_without_DNS(string url)
    {
        var resolver = FakeResolver.Returning("10.0.0.1");
        var result = await Policy(resolver: resolver).CheckAsync(url, CancellationToken.None);

        Assert.True(result.Allowed);
        Assert.Empty(resolver.Queries);
    }

    // ---- Scheme, userinfo, fragment, length, shape ------------------------------------------

    [Fact]
    public void Http_is_refused_unless_AllowHttp_is_set()
    {
        var refused = Policy(resolver: FakeResolver.Returning(Public)).CheckSyntax("http://example.com/hook");
        var allowed = Policy(allowHttp: true, resolver: FakeResolver.Returning(Public)).CheckSyntax("http://example.com/hook");

        Assert.False(refused.Allowed);
        Assert.Equal(UrlCheckReasons.SchemeNotAllowed, refused.Reason);
        Assert.True(allowed.Allowed);
    }

    [Theory]
    [InlineData("ftp://example.com/")]
    [InlineData("file:///etc/passwd")]
    [InlineData("ws://example.com/")]
    [InlineData("wss://example.com/")]
    [InlineData("gopher://example.com/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("data:text/plain,hi")]
    public void Other_schemes_are_refused_even_with_AllowHttp(string url)
    {
        var result = Policy(allowHttp: true).CheckSyntax(url);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.SchemeNotAllowed, result.Reason);
    }

    [Theory]
    [InlineData("https://user:pw@example.com/")]
    [InlineData("https://user@example.com/")]
    [InlineData("https://:@example.com/")]
    [InlineData("https://@example.com/")]
    [InlineData("https://user:pw@127.0.0.1/")]
    public void Userinfo_is_refused(string url)
    {
        var result = Policy(allowList: "127.0.0.1").CheckSyntax(url);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.UserinfoNotAllowed, result.Reason);
    }

    [Theory]
    [InlineData("https://example.com/hook#part")]
    [InlineData("https://example.com/#")]
    [InlineData("https://example.com#")]
    public void Fragments_are_refused(string url)
    {
        var result = Policy().CheckSyntax(url);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.FragmentNotAllowed, result.Reason);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("not a url")]
    [InlineData("example.com/hook")]
    [InlineData("/hooks")]
    [InlineData("//example.com/hooks")]
    [InlineData("https:///hooks")]
    [InlineData("https://exa mple.com/")]
    [InlineData(" https://example.com/")]
    [InlineData("https://example.com/ ")]
    [InlineData("https://example.com/\n")]
    [InlineData("https://example.com:99999/")]
    public void Malformed_or_relative_urls_are_invalid(string? url)
    {
        var result = Policy().CheckSyntax(url);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.InvalidUrl, result.Reason);
    }

    [Fact]
    public void Urls_up_to_2048_characters_are_accepted_and_longer_ones_are_not()
    {
        var prefix = "https://example.com/";
        var longest = prefix + new string('a', UrlPolicy.MaxUrlLength - prefix.Length);
        var policy = Policy();

        Assert.Equal(2048, longest.Length);
        Assert.True(policy.CheckSyntax(longest).Allowed);
        var tooLong = policy.CheckSyntax(longest + "a");
        Assert.False(tooLong.Allowed);
        Assert.Equal(UrlCheckReasons.InvalidUrl, tooLong.Reason);
    }

    // ---- Allow-list --------------------------------------------------------------------------

    [Theory]
    [InlineData("http://127.0.0.1:5000/hook")]
    [InlineData("http://localhost:5000/")]
    [InlineData("http://LocalHost./")]
    [InlineData("http://[::1]:8080/")]
    [InlineData("http://2130706433/")] // Uri makes this 127.0.0.1 before the list is consulted
    public async Task Allow_listed_hosts_skip_the_address_checks(string url)
    {
        var resolver = FakeResolver.Returning("127.0.0.1");
        var policy = Policy(allowHttp: true, allowList: "127.0.0.1, LOCALHOST ,[::1]", resolver: resolver);

        Assert.True(policy.CheckSyntax(url).Allowed);
        Assert.True((await policy.CheckAsync(url, CancellationToken.None)).Allowed);
        Assert.Empty(resolver.Queries);
    }

    [Theory]
    [InlineData("http://127.0.0.2/")]
    [InlineData("http://foo.localhost/")]
    [InlineData("http://[::ffff:127.0.0.1]/")]
    [InlineData("http://10.0.0.1/")]
    public void Hosts_not_on_the_allow_list_are_still_checked(string url)
    {
        var result = Policy(allowHttp: true, allowList: "127.0.0.1,localhost,[::1]").CheckSyntax(url);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.ForbiddenAddress, result.Reason);
    }

    [Fact]
    public void Allow_listed_hosts_still_obey_the_scheme_rule()
    {
        var policy = Policy(allowList: "127.0.0.1");

        Assert.Equal(UrlCheckReasons.SchemeNotAllowed, policy.CheckSyntax("http://127.0.0.1/").Reason);
        Assert.True(policy.CheckSyntax("https://127.0.0.1/").Allowed);
    }

    [Fact]
    public void Allow_list_is_parsed_into_normalised_hosts()
    {
        var options = new UrlPolicyOptions { PrivateNetworkAllowList = " 127.0.0.1 , ,localhost.,[::1],B\u00fccher.example,receiver.test" };

        var parsed = options.ParseAllowList();

        Assert.Equal(5, parsed.Count);
        Assert.Contains("127.0.0.1", parsed);
        Assert.Contains("localhost", parsed);
        Assert.Contains("::1", parsed);
        Assert.Contains("xn--bcher-kva.example", parsed);
        Assert.Contains("RECEIVER.test", parsed);
        Assert.Empty(new UrlPolicyOptions().ParseAllowList());
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("localhost.", true)]
    [InlineData("[::1]", true)]
    [InlineData("::1", true)]
    [InlineData("0:0:0:0:0:0:0:1", true)]
    [InlineData("127.0.0.2", false)]
    [InlineData("foo.localhost", false)]
    [InlineData("example.com", false)]
    [InlineData("", false)]
    public void IsAllowListed_ignores_case_brackets_and_a_trailing_dot(string host, bool expected)
    {
        Assert.Equal(expected, Policy(allowList: "127.0.0.1,localhost,[::1]").IsAllowListed(host));
    }

    [Fact]
    public void An_empty_allow_list_allows_nothing()
    {
        var policy = Policy(allowList: "");

        Assert.Empty(policy.AllowList);
        Assert.False(policy.IsAllowListed("127.0.0.1"));
    }

    // ---- CheckAsync with DNS answers ---------------------------------------------------------

    [Theory]
    [InlineData("10.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("127.0.0.1")]
    [InlineData("fd00:ec2::254")]
    [InlineData(Public, "10.0.0.1")]
    [InlineData("2606:4700:4700::1111", "fe80::1")]
    public async Task A_name_is_refused_when_any_of_its_addresses_is_forbidden(params string[] addresses)
    {
        var result = await Policy(resolver: FakeResolver.Returning(addresses)).CheckAsync("https://hooks.example.com/", CancellationToken.None);

        Assert.False(result.Allowed);
        Assert.Equal(UrlCheckReasons.ForbiddenAddress, result.Reason);
        Assert.Contains("hooks.example.com", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_is_a_dns_failure()
    {
        var failing = await Policy(resolver: FakeResolver.NotFound()).CheckAsync("https://nowhere.example/", CancellationToken.None);
        var empty = await Policy(resolver: FakeResolver.Returning()).CheckAsync("https://nowhere.example/", CancellationToken.None);

        Assert.Equal(UrlCheckReasons.DnsFailure, failing.Reason);
        Assert.Equal(UrlCheckReasons.DnsFailure, empty.Reason);
    }

    [Fact]
    public async Task CheckSyntax_does_not_resolve_names()
    {
        var resolver = FakeResolver.Returning("10.0.0.1");

        var result = Policy(resolver: resolver).CheckSyntax("https://hooks.example.com/");

        Assert.True(result.Allowed);
        Assert.Empty(resolver.Queries);
        Assert.False((await Policy(resolver: resolver).CheckAsync("https://hooks.example.com/", CancellationToken.None)).Allowed);
    }

    // ---- Connect time ------------------------------------------------------------------------

    [Fact]
    public async Task Only_allowed_addresses_are_dialled_in_resolver_order_until_one_connects()
    {
        var dialled = new List<IPEndPoint>();
        var resolver = FakeResolver.Returning("10.0.0.1", "198.51.100.7", Public, "::ffff:169.254.169.254", "::ffff:8.8.8.8", "8.8.4.4");
        var connect = new SsrfSafeConnect(Policy(resolver: resolver), (endpoint, _) =>
        {
            dialled.Add(endpoint);
            // The first allowed address is down, so the next one is tried.
            return endpoint.Address.Equals(IPAddress.Parse(Public))
                ? throw new SocketException((int)SocketError.ConnectionRefused)
                : ValueTask.FromResult(Stream.Null);
        });

        var stream = await connect.ConnectToAsync(new DnsEndPoint("hooks.example.com", 443), CancellationToken.None);

        Assert.Same(Stream.Null, stream);
        // The mapped address is dialled as plain IPv4.
        Assert.Equal([new IPEndPoint(IPAddress.Parse(Public), 443), new IPEndPoint(IPAddress.Parse("8.8.8.8"), 443)], dialled);
    }

    [Fact]
    public async Task When_every_allowed_address_fails_the_last_connect_error_surfaces()
    {
        var dialled = new List<IPAddress>();
        var connect = new SsrfSafeConnect(Policy(resolver: FakeResolver.Returning(Public, "8.8.8.8")), (endpoint, _) =>
        {
            dialled.Add(endpoint.Address);
            throw new SocketException((int)(dialled.Count == 1 ? SocketError.TimedOut : SocketError.ConnectionRefused));
        });

        var ex = await Assert.ThrowsAsync<SocketException>(() => connect.ConnectToAsync(new DnsEndPoint("hooks.example.com", 443), CancellationToken.None).AsTask());

        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.Equal(2, dialled.Count);
    }

    [Theory]
    [InlineData("hooks.example.com", "10.0.0.1")]
    [InlineData("hooks.example.com", "::ffff:169.254.169.254")]
    [InlineData("hooks.example.com", "127.0.0.1", "::1")]
    public async Task A_name_whose_addresses_are_all_forbidden_is_blocked_and_nothing_is_dialled(string host, params string[] addresses)
    {
        var dialled = 0;
        var connect = new SsrfSafeConnect(Policy(resolver: FakeResolver.Returning(addresses)), (_, _) =>
        {
            dialled++;
            return ValueTask.FromResult(Stream.Null);
        });

        var ex = await Assert.ThrowsAsync<UrlBlockedException>(() => connect.ConnectToAsync(new DnsEndPoint(host, 443), CancellationToken.None).AsTask());

        Assert.Equal(UrlCheckReasons.ForbiddenAddress, ex.Reason);
        Assert.Equal(0, dialled);
    }

    [Theory]
    [InlineData("127.0.0.1", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("[::1]", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("[::ffff:127.0.0.1]", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("[64:ff9b::a9fe:a9fe]", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("localhost", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("api.localhost.", UrlCheckReasons.ForbiddenAddress)]
    [InlineData("2130706433.", UrlCheckReasons.InvalidUrl)]
    [InlineData("0x7f.1", UrlCheckReasons.InvalidUrl)]
    [InlineData("[fe80::1%25lo]", UrlCheckReasons.InvalidUrl)]
    public async Task Internal_hosts_are_blocked_at_connect_time_without_asking_DNS(string host, string reason)
    {
        var resolver = FakeResolver.Returning(Public);

        var ex = await Assert.ThrowsAsync<UrlBlockedException>(() => Policy(resolver: resolver).ResolveForConnectAsync(host, CancellationToken.None));

        Assert.Equal(reason, ex.Reason);
        Assert.Empty(resolver.Queries);
    }

    [Fact]
    public async Task Allow_listed_names_may_dial_every_address_they_resolve_to()
    {
        var policy = Policy(allowList: "receiver.test", resolver: FakeResolver.Returning("10.0.0.1", "127.0.0.1"));

        var addresses = await policy.ResolveForConnectAsync("RECEIVER.test", CancellationToken.None);

        Assert.Equal([IPAddress.Parse("10.0.0.1"), IPAddress.Loopback], addresses);
    }

    [Fact]
    public async Task DNS_failure_at_connect_time_surfaces_as_HostNotFound()
    {
        var failing = await Assert.ThrowsAsync<SocketException>(() => Policy(resolver: FakeResolver.NotFound()).ResolveForConnectAsync("nowhere.example", CancellationToken.None));
        var empty = await Assert.ThrowsAsync<SocketException>(() => Policy(resolver: FakeResolver.Returning()).ResolveForConnectAsync("nowhere.example", CancellationToken.None));

        Assert.Equal(SocketError.HostNotFound, failing.SocketErrorCode);
        Assert.Equal(SocketError.HostNotFound, empty.SocketErrorCode);
    }

    // ---- Real connections, loopback only -----------------------------------------------------

    [Fact]
    public async Task An_allow_listed_loopback_receiver_is_really_reached()
    {
        using var listener = StartListener();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = ServeOneAsync(listener, timeout.Token);
        using var client = Client(Policy(allowHttp: true, allowList: "127.0.0.1", resolver: FakeResolver.Unused()));

        using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{Port(listener)}/hook"), timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync(timeout.Token));
        Assert.StartsWith("GET /hook HTTP/1.1", await server, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_allow_list_the_loopback_receiver_is_blocked_before_any_connection()
    {
        using var listener = StartListener();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = Client(Policy(allowHttp: true, resolver: FakeResolver.Unused()));

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri($"http://127.0.0.1:{Port(listener)}/hook"), timeout.Token));

        var blocked = FindInner<UrlBlockedException>(ex);
        Assert.NotNull(blocked);
        Assert.Equal(UrlCheckReasons.ForbiddenAddress, blocked.Reason);
        Assert.Equal(HttpRequestError.ConnectionError, ex.HttpRequestError);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task DNS_rebinding_after_the_save_time_check_is_blocked_at_connect_time()
    {
        using var listener = StartListener();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // First answer (save time) public, every later one (connect time) loopback.
        var resolver = new FakeResolver((_, call) => call == 1 ? [IPAddress.Parse(Public)] : [IPAddress.Loopback]);
        var policy = Policy(allowHttp: true, resolver: resolver);
        var url = $"http://rebind.example:{Port(listener)}/hook";
        using var client = Client(policy);

        var saved = await policy.CheckAsync(url, timeout.Token);
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(saved.Uri, timeout.Token));

        Assert.True(saved.Allowed);
        Assert.NotNull(FindInner<UrlBlockedException>(ex));
        Assert.Equal(2, resolver.Queries.Count);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task A_refused_address_is_skipped_for_the_next_one()
    {
        using var listener = StartListener();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = ServeOneAsync(listener, timeout.Token);
        // Nothing listens on 127.0.0.2 at this port, so that connect is refused and 127.0.0.1 is tried next.
        var resolver = FakeResolver.Returning("127.0.0.2", "127.0.0.1");
        using var client = Client(Policy(allowHttp: true, allowList: "receiver.test", resolver: resolver));

        using var response = await client.GetAsync(new Uri($"http://receiver.test:{Port(listener)}/"), timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Host: receiver.test:", await server, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_name_that_does_not_resolve_is_reported_by_HttpClient_as_a_name_resolution_error()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = Client(Policy(resolver: FakeResolver.NotFound()));

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("https://nowhere.example/"), timeout.Token));

        Assert.Equal(HttpRequestError.NameResolutionError, ex.HttpRequestError);
        Assert.Null(FindInner<UrlBlockedException>(ex));
    }

    // ---- Helpers -----------------------------------------------------------------------------

    private static UrlPolicy Policy(bool allowHttp = false, string? allowList = null, IHostResolver? resolver = null) =>
        new(new UrlPolicyOptions { AllowHttp = allowHttp, PrivateNetworkAllowList = allowList }, resolver ?? FakeResolver.Unused());

    private static HttpClient Client(UrlPolicy policy) =>
        new(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectCallback = new SsrfSafeConnect(policy).ConnectAsync,
        });

    private static TcpListener StartListener()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>Accepts one connection, reads the request head, answers 200 "ok"; returns the head.</summary>
    private static async Task<string> ServeOneAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        using var connection = await listener.AcceptTcpClientAsync(cancellationToken);
        var stream = connection.GetStream();
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                break;
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray(), cancellationToken);
        return head.ToString();
    }

    private static T? FindInner<T>(Exception? exception)
        where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }
        return null;
    }

    private sealed class FakeResolver(Func<string, int, IPAddress[]> answer) : IHostResolver
    {
        private readonly Lock _gate = new();
        private readonly List<string> _queries = [];

        public IReadOnlyList<string> Queries
        {
            get
            {
                lock (_gate)
                {
                    return [.. _queries];
                }
            }
        }

        public static FakeResolver Returning(params string[] addresses) =>
            new((_, _) => [.. addresses.Select(IPAddress.Parse)]);

        public static FakeResolver NotFound() =>
            new((_, _) => throw new SocketException((int)SocketError.HostNotFound));

        /// <summary>For tests where the host is an address: any DNS query is a bug.</summary>
        public static FakeResolver Unused() =>
            new((host, _) => throw new InvalidOperationException($"Unexpected DNS query for '{host}'."));

        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            int call;
            lock (_gate)
            {
                _queries.Add(host);
                call = _queries.Count;
            }
            return Task.FromResult(answer(host, call));
        }
    }
}
