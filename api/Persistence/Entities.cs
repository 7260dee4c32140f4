namespace WebhooksApi.Persistence;

// Entities never leave the service: endpoints map them to wire types (the *In/*Out records).

internal sealed class Account
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class ApiKey
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Name { get; set; }

    /// <summary>SHA-256 of the whole key, hex. The key itself is shown once and never stored.</summary>
    public required string KeyHash { get; set; }

    /// <summary>The first characters of the key, so a user can tell keys apart in a list.</summary>
    public required string Prefix { get; set; }

    /// <summary>Space-separated scopes, as in OAuth.</summary>
    public required string Scopes { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

internal sealed class IdempotencyRecord
{
    public Guid Id { get; set; }

    /// <summary>The account id, or "operator" for operator calls: keys never collide across tenants.</summary>
    public required string Scope { get; set; }

    public required string Key { get; set; }

    /// <summary>SHA-256 of method, path and body: the same key with another request is a 422.</summary>
    public required string RequestHash { get; set; }

    /// <summary>0 while the first request is still running.</summary>
    public int StatusCode { get; set; }

    public string? ContentType { get; set; }
    public string? Location { get; set; }
    public byte[]? Body { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
