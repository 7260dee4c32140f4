using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WebhooksApi.Security;

/// <summary>Bound from <c>Delivery:AllowHttp</c> and <c>Delivery:PrivateNetworkAllowList</c>.</summary>
internal sealed class UrlPolicyOptions
{
    /// <summary>Also accept <c>http</c> URLs. For development and tests only.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// Comma-separated hosts (names or IP addresses) that skip the address checks, such as
    /// <c>127.0.0.1,localhost</c> for receivers running on the developer's machine.
    /// </summary>
    public string? PrivateNetworkAllowList { get; set; }

    /// <summary>The allow-list as normalised host keys; a method so the configuration binder leaves it alone.</summary>
    public IReadOnlySet<string> ParseAllowList()
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in (PrivateNetworkAllowList ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            hosts.Add(UrlPolicy.NormaliseHost(entry));
        }
        return hosts;
    }
}

/// <summary>Resolves host names; injectable so tests never touch real DNS.</summary>
internal interface IHostResolver
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

internal sealed class SystemHostResolver : IHostResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>Stable, machine-readable reasons a URL is refused.</summary>
internal static class UrlCheckReasons
{
    public const string InvalidUrl = "invalid_url";
    public const string SchemeNotAllowed = "scheme_not_allowed";
    public const string UserinfoNotAllowed = "userinfo_not_allowed";
    public const string FragmentNotAllowed = "fragment_not_allowed";
    public const string ForbiddenAddress = "forbidden_address";
    public const string DnsFailure = "dns_failure";
}

internal sealed class UrlCheckResult
{
    private UrlCheckResult(bool allowed, string? reason, string? message, Uri? uri)
    {
        Allowed = allowed;
        Reason = reason;
        Message = message;
        Uri = uri;
    }

    [MemberNotNullWhen(true, nameof(Uri))]
    [MemberNotNullWhen(false, nameof(Reason), nameof(Message))]
    public bool Allowed { get; }

    /// <summary>One of <see cref="UrlCheckReasons"/> when refused.</summary>
    public string? Reason { get; }

    /// <summary>Human text for the problem detail when refused.</summary>
    public string? Message { get; }

    /// <summary>The parsed URL; set only when allowed, so a refused URL cannot be used by mistake.</summary>
    public Uri? Uri { get; }

    public static UrlCheckResult Ok(Uri uri) => new(true, null, null, uri);

    public static UrlCheckResult Refused(string reason, string message) => new(false, reason, message, null);
}

/// <summary>
/// Decides which webhook URLs may be called (SSRF protection). <see cref="CheckSyntax"/> and
/// <see cref="CheckAsync"/> run when a URL is saved; <see cref="ResolveForConnectAsync"/> runs on
/// every connection (through <see cref="SsrfSafeConnect"/>), because DNS may answer differently
/// by then.
/// </summary>
internal sealed class UrlPolicy
{
    public const int MaxUrlLength = 2048;

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");

    // Most specific first, so a message names the metadata endpoint rather than the range around it.
    private static readonly (IPNetwork Network, string Description)[] ForbiddenV4 =
    [
        (IPNetwork.Parse("169.254.169.254/32"), "a cloud metadata endpoint (169.254.169.254)"),
        (IPNetwork.Parse("100.100.100.200/32"), "a cloud metadata endpoint (100.100.100.200)"),
        (IPNetwork.Parse("192.0.0.192/32"), "a cloud metadata endpoint (192.0.0.192)"),
        (IPNetwork.Parse("255.255.255.255/32"), "the broadcast address"),
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified (0.0.0.0/8)"),
        (IPNetwork.Parse("10.0.0.0/8"), "private (10.0.0.0/8)"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared carrier-grade NAT space (100.64.0.0/10)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
        (IPNetwork.Parse("172.16.0.0/12"), "private (172.16.0.0/12)"),
        (IPNetwork.Parse("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
        (IPNetwork.Parse("192.0.2.0/24"), "documentation (192.0.2.0/24)"),
        (IPNetwork.Parse("192.88.99.0/24"), "deprecated 6to4 relay anycast (192.88.99.0/24)"),
        (IPNetwork.Parse("192.168.0.0/16"), "private (192.168.0.0/16)"),
        (IPNetwork.Parse("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
        (IPNetwork.Parse("198.51.100.0/24"), "documentation (198.51.100.0/24)"),
        (IPNetwork.Parse("203.0.113.0/24"), "documentation (203.0.113.0/24)"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
    ];

    // Checked after the forms that embed IPv4 have been unwrapped.
    private static readonly (IPNetwork Network, string Description)[] ForbiddenV6 =
    [
        (IPNetwork.Parse("fd00:ec2::254/128"), "a cloud metadata endpoint (fd00:ec2::254)"),
        (IPNetwork.Parse("100::/64"), "discard-only (100::/64)"),
        // Local-use NAT64 may embed IPv4 at several offsets (RFC 6052), and it is never global.
        (IPNetwork.Parse("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
        (IPNetwork.Parse("2001:db8::/32"), "documentation (2001:db8::/32)"),
        (IPNetwork.Parse("2001::/23"), "IETF protocol assignments (2001::/23)"),
        (IPNetwork.Parse("3fff::/20"), "documentation (3fff::/20)"),
        (IPNetwork.Parse("fc00::/7"), "unique-local (fc00::/7)"),
        (IPNetwork.Parse("fe80::/10"), "link-local (fe80::/10)"),
        (IPNetwork.Parse("fec0::/10"), "site-local (fec0::/10)"),
        (IPNetwork.Parse("ff00::/8"), "multicast (ff00::/8)"),
    ];

    private static readonly IPNetwork GlobalUnicastV6 = IPNetwork.Parse("2000::/3");
    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");
    private static readonly IPNetwork Teredo = IPNetwork.Parse("2001::/32");

    private readonly UrlPolicyOptions _options;
    private readonly IHostResolver _resolver;

    public UrlPolicy(UrlPolicyOptions options, IHostResolver resolver)
    {
        _options = options;
        _resolver = resolver;
        AllowList = options.ParseAllowList();
    }

    /// <summary>The parsed <see cref="UrlPolicyOptions.PrivateNetworkAllowList"/>, normalised.</summary>
    public IReadOnlySet<string> AllowList { get; }

    /// <summary>True when the host (name or address, any case, brackets and a trailing dot optional) is on the operator's allow-list.</summary>
    public bool IsAllowListed(string host) => AllowList.Count > 0 && AllowList.Contains(NormaliseHost(host));

    /// <summary>Every rule that needs no DNS: syntax, scheme, userinfo, and IP-literal and localhost hosts.</summary>
    public UrlCheckResult CheckSyntax(string? url) => Check(url, out _);

    /// <summary><see cref="CheckSyntax"/>, then resolves a host name and refuses it if ANY address is forbidden.</summary>
    public async Task<UrlCheckResult> CheckAsync(string? url, CancellationToken cancellationToken)
    {
        var result = Check(url, out var hostToResolve);
        if (!result.Allowed || hostToResolve is null)
        {
            return result;
        }

        IPAddress[] addresses;
        try
        {
            addresses = await _resolver.ResolveAsync(hostToResolve, cancellationToken);
        }
        catch (SocketException ex)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.DnsFailure, $"The host '{hostToResolve}' could not be resolved ({ex.SocketErrorCode}).");
        }
        catch (ArgumentException)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, $"The host '{hostToResolve}' is not a valid DNS name.");
        }

        if (addresses.Length == 0)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.DnsFailure, $"The host '{hostToResolve}' has no addresses.");
        }
        foreach (var address in addresses)
        {
            if (DescribeForbidden(address) is { } why)
            {
                return UrlCheckResult.Refused(UrlCheckReasons.ForbiddenAddress, ForbiddenMessage(hostToResolve, address, why));
            }
        }
        return result;
    }

    /// <summary>
    /// The addresses a connection to <paramref name="host"/> may dial, in resolver order. Throws
    /// <see cref="UrlBlockedException"/> when none may, and lets the resolver's
    /// <see cref="SocketException"/> (HostNotFound for an unknown name) through.
    /// </summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveForConnectAsync(string host, CancellationToken cancellationToken)
    {
        if (!TryParseHost(host, out var parsed, out var problem))
        {
            throw new UrlBlockedException(UrlCheckReasons.InvalidUrl, problem);
        }
        var allowListed = IsAllowListed(parsed.Key);

        if (parsed.Literal is { } literal)
        {
            if (!allowListed && DescribeForbidden(literal) is { } why)
            {
                throw new UrlBlockedException(UrlCheckReasons.ForbiddenAddress, ForbiddenMessage(host, literal, why));
            }
            return [literal];
        }

        if (!allowListed && IsLocalhostName(parsed.Key))
        {
            throw new UrlBlockedException(UrlCheckReasons.ForbiddenAddress, LocalhostMessage(host));
        }

        var addresses = await _resolver.ResolveAsync(parsed.ResolveName!, cancellationToken);
        if (addresses.Length == 0)
        {
            // Same shape as a failed lookup, so HttpClient reports NameResolutionError.
            throw new SocketException((int)SocketError.HostNotFound);
        }
        if (allowListed)
        {
            return addresses;
        }

        var allowed = addresses.Where(a => !IsForbidden(a)).ToArray();
        if (allowed.Length == 0)
        {
            throw new UrlBlockedException(UrlCheckReasons.ForbiddenAddress, ForbiddenMessage(host, addresses[0], DescribeForbidden(addresses[0])!));
        }
        return allowed;
    }

    /// <summary>True when no webhook may be sent to <paramref name="address"/>.</summary>
    public static bool IsForbidden(IPAddress address) => DescribeForbidden(address) is not null;

    /// <summary>Why <paramref name="address"/> is forbidden, for messages; null when it is allowed.</summary>
    public static string? DescribeForbidden(IPAddress address) => address.AddressFamily switch
    {
        AddressFamily.InterNetwork => DescribeV4(address),
        AddressFamily.InterNetworkV6 => DescribeV6(address),
        _ => "not an IP address",
    };

    /// <summary>The form hosts are compared in: no brackets or trailing dot, canonical IP text, IDN as punycode.</summary>
    internal static string NormaliseHost(string host)
    {
        var h = host.Trim();
        if (h.Length >= 2 && h[0] == '[' && h[^1] == ']')
        {
            h = h[1..^1];
        }
        if (h.EndsWith('.'))
        {
            h = h[..^1];
        }
        if (IPAddress.TryParse(h, out var address))
        {
            return address.ToString();
        }
        if (!Ascii.IsValid(h))
        {
            try
            {
                // A new mapping per call: IdnMapping instances are not documented as thread-safe.
                h = new IdnMapping().GetAscii(h);
            }
            catch (ArgumentException)
            {
                // Not a valid IDN: it can never equal a host Uri accepted, so leave it as written.
            }
        }
        return h;
    }

    private UrlCheckResult Check(string? url, out string? hostToResolve)
    {
        hostToResolve = null;
        if (string.IsNullOrWhiteSpace(url))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, "A URL is required.");
        }
        if (url.Length > MaxUrlLength)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, $"The URL must be at most {MaxUrlLength} characters.");
        }
        // Uri silently trims these, so what is stored would differ from what is called.
        if (IsSpaceOrControl(url[0]) || IsSpaceOrControl(url[^1]))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, "The URL must not start or end with whitespace.");
        }
        // Checked on the text because on Unix Uri takes "/path" and "//host" as absolute file URIs.
        var colon = url.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !Uri.CheckSchemeName(url[..colon]) || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, "The URL must be absolute, such as https://example.com/webhooks.");
        }

        var schemeAllowed = uri.Scheme == Uri.UriSchemeHttps || (_options.AllowHttp && uri.Scheme == Uri.UriSchemeHttp);
        if (!schemeAllowed)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.SchemeNotAllowed, _options.AllowHttp
                ? "Only http and https URLs are accepted."
                : "Only https URLs are accepted.");
        }
        // Uri reports no userinfo for "https://@host", so the raw authority is checked too.
        if (uri.UserInfo.Length > 0 || RawAuthority(url, colon).Contains('@', StringComparison.Ordinal))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.UserinfoNotAllowed, "The URL must not contain a user name or password.");
        }
        if (uri.Fragment.Length > 0 || url.Contains('#', StringComparison.Ordinal))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.FragmentNotAllowed, "The URL must not contain a fragment (#...).");
        }

        // IdnHost is what SocketsHttpHandler hands to the connect callback, so it is what is checked.
        if (uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6 or UriHostNameType.Dns))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, "The URL's host is not valid.");
        }
        if (!TryParseHost(uri.IdnHost, out var parsed, out var problem))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, problem);
        }
        // IDN mapping can turn a name into an address ("127。0。0。1" becomes 127.0.0.1) that Uri never saw as one.
        if (uri.HostNameType == UriHostNameType.Dns && parsed.Literal is not null)
        {
            return UrlCheckResult.Refused(UrlCheckReasons.InvalidUrl, NumericHostMessage);
        }

        if (IsAllowListed(parsed.Key))
        {
            return UrlCheckResult.Ok(uri);
        }
        if (parsed.Literal is { } literal)
        {
            return DescribeForbidden(literal) is { } why
                ? UrlCheckResult.Refused(UrlCheckReasons.ForbiddenAddress, ForbiddenMessage(uri.Host, literal, why))
                : UrlCheckResult.Ok(uri);
        }
        if (IsLocalhostName(parsed.Key))
        {
            return UrlCheckResult.Refused(UrlCheckReasons.ForbiddenAddress, LocalhostMessage(uri.Host));
        }
        hostToResolve = parsed.ResolveName;
        return UrlCheckResult.Ok(uri);
    }

    private const string NumericHostMessage =
        "The URL's host looks like an IPv4 address in a form that is not accepted; write addresses as four decimal numbers (a.b.c.d).";

    private readonly record struct ParsedHost(IPAddress? Literal, string? ResolveName, string Key);

    /// <summary>
    /// Splits a host into an IP literal or a name to resolve. Shared by save and connect time so
    /// both see the same host. A failure leaves a message in <paramref name="problem"/>.
    /// </summary>
    private static bool TryParseHost(string host, out ParsedHost parsed, [NotNullWhen(false)] out string? problem)
    {
        parsed = default;
        problem = null;
        var h = host.Length >= 2 && host[0] == '[' && host[^1] == ']' ? host[1..^1] : host;
        if (h.Length == 0)
        {
            problem = "The URL has no host.";
            return false;
        }
        if (h.Contains(':', StringComparison.Ordinal))
        {
            // A zone names an interface on this machine; no receiver is reached that way.
            if (h.Contains('%', StringComparison.Ordinal))
            {
                problem = "IPv6 zone identifiers are not accepted.";
                return false;
            }
            if (!IPAddress.TryParse(h, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                problem = "The URL's host is not a valid IPv6 address.";
                return false;
            }
            parsed = new ParsedHost(v6, null, v6.ToString());
            return true;
        }
        if (IsDottedQuad(h))
        {
            var v4 = IPAddress.Parse(h);
            parsed = new ParsedHost(v4, null, v4.ToString());
            return true;
        }
        var name = h.EndsWith('.') ? h[..^1] : h;
        // Resolvers take "0x7f.1", "2130706433." and the like as addresses; never let DNS decide.
        if (EndsInNumber(name))
        {
            problem = NumericHostMessage;
            return false;
        }
        parsed = new ParsedHost(null, h, name);
        return true;
    }

    /// <summary>Exactly four decimal parts 0-255 without leading zeros: the only IPv4 text that is unambiguous.</summary>
    private static bool IsDottedQuad(string host)
    {
        var parts = host.Split('.');
        return parts.Length == 4 && parts.All(p =>
            p.Length is >= 1 and <= 3
            && !p.AsSpan().ContainsAnyExceptInRange('0', '9')
            && (p.Length == 1 || p[0] != '0')
            && int.Parse(p, CultureInfo.InvariantCulture) <= 255);
    }

    /// <summary>The WHATWG URL rule: a host whose last label is a number is meant as an IPv4 address.</summary>
    private static bool EndsInNumber(string name)
    {
        var last = name[(name.LastIndexOf('.') + 1)..];
        if (last.Length == 0)
        {
            return false;
        }
        if (!last.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            return true;
        }
        return last.Length >= 2 && last[0] == '0' && (last[1] is 'x' or 'X') && !last.AsSpan(2).ContainsAnyExcept(HexDigits);
    }

    private static bool IsLocalhostName(string name) =>
        name.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase);

    private static bool IsSpaceOrControl(char c) => char.IsWhiteSpace(c) || char.IsControl(c);

    private static string RawAuthority(string url, int colon)
    {
        var rest = url.AsSpan(colon + 1);
        if (rest.StartsWith("//", StringComparison.Ordinal))
        {
            rest = rest[2..];
        }
        var end = rest.IndexOfAny("/?#\\");
        return (end < 0 ? rest : rest[..end]).ToString();
    }

    private static string ForbiddenMessage(string host, IPAddress address, string why) =>
        host.Trim('[', ']') == address.ToString()
            ? $"The address {address} is {why}; webhooks cannot be sent to private or internal networks."
            : $"The host '{host}' resolves to {address}, which is {why}; webhooks cannot be sent to private or internal networks.";

    private static string LocalhostMessage(string host) =>
        $"The host '{host}' names this machine; webhooks cannot be sent to private or internal networks.";

    private static string? DescribeV4(IPAddress address)
    {
        foreach (var (network, description) in ForbiddenV4)
        {
            if (network.Contains(address))
            {
                return description;
            }
        }
        return null;
    }

    private static string? DescribeV6(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        var value = BinaryPrimitives.ReadUInt128BigEndian(bytes);

        if (value == 0)
        {
            return "unspecified (::)";
        }
        if (value == 1)
        {
            return "loopback (::1)";
        }
        // Each of these forms reaches an IPv4 address in the end, so that address decides.
        if (value >> 32 == 0xFFFF)
        {
            return DescribeEmbedded("IPv4-mapped", (uint)value);
        }
        if (value >> 32 == 0)
        {
            return DescribeEmbedded("IPv4-compatible", (uint)value);
        }
        if (value >> 32 == 0xFFFF_0000)
        {
            return DescribeEmbedded("IPv4-translated", (uint)value);
        }
        if (Nat64.Contains(address))
        {
            return DescribeEmbedded("NAT64", (uint)value);
        }
        if (SixToFour.Contains(address))
        {
            return DescribeEmbedded("6to4", (uint)(value >> 80));
        }
        if (Teredo.Contains(address))
        {
            // Both ends of a Teredo tunnel are IPv4 hosts: the server (bits 32-63) and the client (last 32 bits, inverted).
            return DescribeEmbedded("Teredo server", (uint)(value >> 64)) ?? DescribeEmbedded("Teredo client", ~(uint)value);
        }

        foreach (var (network, description) in ForbiddenV6)
        {
            if (network.Contains(address))
            {
                return description;
            }
        }
        return GlobalUnicastV6.Contains(address) ? null : "outside IPv6 global unicast (2000::/3)";
    }

    private static string? DescribeEmbedded(string form, uint embedded)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, embedded);
        var v4 = new IPAddress(bytes);
        return DescribeV4(v4) is { } why ? $"a {form} form of {v4}, which is {why}" : null;
    }
}
