using System.Security.Cryptography;
using System.Text;
using WebhooksApi.Http;

namespace WebhooksApi.Security;

internal sealed class OperatorOptions
{
    public const string Section = "Operator";

    /// <summary>The operator's key for account creation. Unset: the endpoint is off (404).</summary>
    public string? ApiKey { get; set; }
}

/// <summary>Guards operator-only endpoints with the key from configuration.</summary>
internal static class OperatorKey
{
    public static RouteHandlerBuilder RequireOperatorKey(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(OpenApi.OperatorMetadata.Instance).AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var configured = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<OperatorOptions>>().Value.ApiKey;
            if (string.IsNullOrEmpty(configured))
            {
                return Problems.NotFound("This endpoint is not enabled on this service (Operator:ApiKey is not set).");
            }

            var given = ApiKeyAuthenticationHandler.BearerToken(http.Request);
            if (given is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Problems.Unauthorized("Send the operator key as 'Authorization: Bearer <key>'.");
            }

            if (!Matches(given, configured))
            {
                FailedAuthLimiter.RecordFailure(http);
                return Problems.Forbidden("This endpoint needs the operator key.");
            }

            return await next(context);
        });

    /// <summary>Compares hashes in constant time, so timing reveals neither content nor length.</summary>
    internal static bool Matches(string given, string configured) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(given)),
            SHA256.HashData(Encoding.UTF8.GetBytes(configured)));
}
