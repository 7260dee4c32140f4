using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ApiKeys;

/// <summary>Creates a key row and returns the one response that ever shows the key.</summary>
internal static class ApiKeyIssuer
{
    public static ApiKeyCreatedOut Issue(WebhooksDbContext db, Guid accountId, string name, IReadOnlyCollection<ApiScope> scopes, DateTimeOffset now)
    {
        var key = ApiKeyFactory.NewKey();
        var distinct = scopes.Distinct().Order().ToList();
        var row = new ApiKey
        {
            Id = Ids.New(now),
            AccountId = accountId,
            Name = name,
            KeyHash = ApiKeyFactory.Hash(key),
            Prefix = ApiKeyFactory.DisplayPrefix(key),
            Scopes = string.Join(' ', distinct.Select(ApiScopes.ToClaim)),
            CreatedAt = now,
        };
        db.ApiKeys.Add(row);
        return new ApiKeyCreatedOut(row.Id.ToString(), row.Name, distinct, row.Prefix, row.CreatedAt, key);
    }
}
