using System.Text.Json.Serialization;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.ApiKeys;

/// <summary>A permission an API key carries. `admin` holds all of them.</summary>
internal enum ApiScope
{
    [JsonStringEnumMemberName("admin")] Admin,
    [JsonStringEnumMemberName("connections:manage")] ConnectionsManage,
    [JsonStringEnumMemberName("events:send")] EventsSend,
    [JsonStringEnumMemberName("logs:read")] LogsRead,
}

/// <summary>An API key as listed: never the key itself.</summary>
internal sealed record ApiKeyOut(
    string Id,
    string Name,
    IReadOnlyList<ApiScope> Scopes,
    string Prefix,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RevokedAt)
{
    public static ApiKeyOut From(ApiKey key) => new(
        key.Id.ToString(), key.Name, ApiScopes.Parse(key.Scopes), key.Prefix, key.CreatedAt, key.RevokedAt);
}

/// <summary>A new API key, with the key itself: shown only in this response.</summary>
internal sealed record ApiKeyCreatedOut(
    string Id,
    string Name,
    IReadOnlyList<ApiScope> Scopes,
    string Prefix,
    DateTimeOffset CreatedAt,
    string Key);

internal static class ApiScopes
{
    public static string ToClaim(ApiScope scope) => scope switch
    {
        ApiScope.Admin => Security.Scopes.Admin,
        ApiScope.ConnectionsManage => Security.Scopes.ConnectionsManage,
        ApiScope.EventsSend => Security.Scopes.EventsSend,
        ApiScope.LogsRead => Security.Scopes.LogsRead,
        _ => throw new ArgumentOutOfRangeException(nameof(scope)),
    };

    public static IReadOnlyList<ApiScope> Parse(string stored) =>
        [.. stored.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(FromClaim).OfType<ApiScope>()];

    private static ApiScope? FromClaim(string claim) => claim switch
    {
        Security.Scopes.Admin => ApiScope.Admin,
        Security.Scopes.ConnectionsManage => ApiScope.ConnectionsManage,
        Security.Scopes.EventsSend => ApiScope.EventsSend,
        Security.Scopes.LogsRead => ApiScope.LogsRead,
        _ => null,
    };
}
