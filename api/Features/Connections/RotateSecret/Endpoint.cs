using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.RotateSecret;

internal sealed class Endpoint : IEndpoint
{
    /// <summary>How long the previous secret keeps signing, so receivers can switch without a gap.</summary>
    public static readonly TimeSpan Overlap = TimeSpan.FromHours(24);

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/connections/{id}/rotate-secret", Handle)
            .WithName("Connections_RotateSecret")
            .WithTags("Connections")
            .WithSummary("Rotate the signing secret")
            .WithDescription("Returns the new secret (shown only here). For 24 hours every request carries two signatures, with the new and the previous secret.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<SigningSecretOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, SecretProtector protector, TimeProvider time, CancellationToken cancellationToken)
    {
        var row = await db.Connections.FindOwnedAsync(http.User.GetAccountId(), id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No connection with id '{id}'.");
        }

        var now = time.GetUtcNow();
        var (secret, protectedSecret) = ConnectionRules.NewSigningSecret(protector);
        row.PreviousSigningSecretProtected = row.SigningSecretProtected;
        row.PreviousSecretExpiresAt = now + Overlap;
        row.SigningSecretProtected = protectedSecret;
        row.UpdatedAt = now;
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(new SigningSecretOut(secret, row.PreviousSecretExpiresAt));
    }
}
