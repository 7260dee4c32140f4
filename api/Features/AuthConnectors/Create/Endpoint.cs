using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors.Create;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/auth-connectors", Handle)
            .WithName("AuthConnectors_Create")
            .WithTags("AuthConnectors")
            .WithSummary("Create an auth connector")
            .WithDescription("Basic, bearer or API-key credentials for connections to use. Secrets are encrypted at rest and never returned.")
            .RequireScopes(Scopes.ConnectionsManage)
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Created<AuthConnectorOut>, ProblemHttpResult>> Handle(
        AuthConnectorIn request, HttpContext http, WebhooksDbContext db, SecretProtector protector, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        errors.Length("name", request.Name.Trim(), 1, 200);
        var credentials = AuthConnectorMapping.Credentials(request.Type, request.Basic, request.Bearer, request.ApiKey, errors);
        if (errors.Any || credentials is null)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var row = new AuthConnector
        {
            Id = Ids.New(now),
            AccountId = http.User.GetAccountId(),
            Name = request.Name.Trim(),
            Type = string.Empty,
            PublicJson = string.Empty,
            SecretsProtected = string.Empty,
            CreatedAt = now,
            UpdatedAt = now,
        };
        AuthConnectorMapping.Store(row, request.Type, credentials.Value.Public, credentials.Value.Secrets, protector);
        db.AuthConnectors.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/auth-connectors/{row.Id}", AuthConnectorMapping.ToOut(row));
    }
}
