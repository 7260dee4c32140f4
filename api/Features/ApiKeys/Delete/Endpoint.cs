using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ApiKeys.Delete;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/api-keys/{id}", Handle)
            .WithName("ApiKeys_Revoke")
            .WithTags("ApiKeys")
            .WithSummary("Revoke an API key")
            .WithDescription("The key stops working at once, on every node. Revoking a revoked key is a no-op.")
            .RequireScopes(Scopes.Admin)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var key = EndpointConventions.TryParseId(id, out var keyId)
            ? await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.AccountId == accountId, cancellationToken)
            : null;
        if (key is null)
        {
            return Problems.NotFound($"No API key with id '{id}'.");
        }

        key.RevokedAt ??= time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }
}
