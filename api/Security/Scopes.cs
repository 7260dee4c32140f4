using System.Security.Claims;

namespace WebhooksApi.Security;

internal static class Scopes
{
    public const string Admin = "admin";
    public const string ConnectionsManage = "connections:manage";
    public const string EventsSend = "events:send";
    public const string LogsRead = "logs:read";

    public static readonly IReadOnlyList<string> All = [Admin, ConnectionsManage, EventsSend, LogsRead];

    public static bool IsKnown(string scope) => All.Contains(scope, StringComparer.Ordinal);

    /// <summary>True when the caller holds any of <paramref name="anyOf"/>; <c>admin</c> holds them all.</summary>
    public static bool HasAny(ClaimsPrincipal user, IReadOnlyCollection<string> anyOf) =>
        user.FindAll(ApiKeyClaims.Scope).Any(c => c.Value == Admin || anyOf.Contains(c.Value));
}

internal static class ApiKeyClaims
{
    public const string AccountId = "account_id";
    public const string KeyId = "key_id";
    public const string Scope = "scope";

    /// <summary>The authenticated caller's account. Endpoints filter every query by it.</summary>
    public static Guid GetAccountId(this ClaimsPrincipal user) =>
        Guid.Parse(user.FindFirstValue(AccountId) ?? throw new InvalidOperationException("The request is not authenticated with an API key."));
}
