using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Security;

/// <summary>
/// `Authorization: Bearer whk_...`. The key is hashed and looked up on every request, with no
/// cache, so a revoked key stops working at once on every node (see <see cref="HotQueries"/>). The lookup is by SHA-256 hash
/// (a unique index), never by comparing key text, so its timing says nothing about the key.
/// A refused key counts toward <see cref="FailedAuthLimiter"/>.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    HotQueries reads)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = BearerToken(Request);
        if (key is null)
        {
            return AuthenticateResult.NoResult();
        }

        var hash = ApiKeyFactory.Hash(key);
        var found = await reads.ApiKeyAsync(Context.RequestServices, hash, Context.RequestAborted);
        if (found is null)
        {
            return AuthenticateResult.Fail("Unknown or revoked API key.");
        }

        var claims = new List<Claim>
        {
            new(ApiKeyClaims.AccountId, found.AccountId.ToString()),
            new(ApiKeyClaims.KeyId, found.Id.ToString()),
        };
        claims.AddRange(found.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(ApiKeyClaims.Scope, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var hasKey = BearerToken(Request) is not null;
        if (hasKey)
        {
            FailedAuthLimiter.RecordFailure(Context);
        }

        return Problems.Write(Context, Problems.Unauthorized(hasKey
            ? "The API key is unknown or has been revoked."
            : "Send an API key as 'Authorization: Bearer <key>'."));
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Write(Context, Problems.Forbidden("The API key does not carry the scope this operation needs."));

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = header[prefix.Length..].Trim();
        return token.Length is > 0 and <= 512 ? token : null;
    }
}
