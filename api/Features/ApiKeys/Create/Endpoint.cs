using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.ApiKeys.Create;

/// <summary>A key for the caller's account with the scopes asked for.</summary>
internal sealed record ApiKeyIn(string Name, IReadOnlyList<ApiScope> Scopes);

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/api-keys", Handle)
            .WithName("ApiKeys_Create")
            .WithTags("ApiKeys")
            .WithSummary("Create an API key")
            .WithDescription("Returns the key once, in this response; only its hash is stored.")
            .RequireScopes(Scopes.Admin)
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Created<ApiKeyCreatedOut>, ProblemHttpResult>> Handle(
        ApiKeyIn request, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.Length("name", request.Name.Trim(), 1, 200);
        if (request.Scopes.Count == 0)
        {
            errors.Add("scopes", "scopes must name at least one of: admin, connections:manage, events:send, logs:read.");
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var created = ApiKeyIssuer.Issue(db, http.User.GetAccountId(), request.Name.Trim(), request.Scopes, time.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/api-keys/{created.Id}", created);
    }
}
