namespace WebhooksApi.Delivery;

/// <summary>What a user may put in a connection's headers.</summary>
internal static class HeaderRules
{
    // Hop-by-hop headers belong to one connection, not to the message, and Host/Content-Length
    // are computed by the HTTP stack: letting users set them invites request smuggling and
    // requests that no server can parse. The signature headers are ours to set.
    private static readonly HashSet<string> Refused = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    };

    public const int MaxHeaders = 50;

    public static bool IsRefused(string name) => Refused.Contains(name);

    /// <summary>An RFC 9110 token: visible ASCII except separators.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 100 && name.All(c => c is > ' ' and < (char)127 && !"\"(),/:;<=>?@[\\]{}".Contains(c, StringComparison.Ordinal));
}
