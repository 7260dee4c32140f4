using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors.Update;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPatch("/v1/auth-connectors/{id}", Handle)
            .WithName("AuthConnectors_Update")
            .WithTags("AuthConnectors")
            .WithSummary("Rename an auth connector or replace its credentials")
            .WithDescription("Credentials are replaced whole: give `type` and its object. Connections using the connector return to `pending` (their requests change).")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<AuthConnectorOut>, ProblemHttpResult>> Handle(
        string id, AuthConnectorPatch patch, HttpContext http, WebhooksDbContext db, SecretProtector protector, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = await db.AuthConnectors.FindOwnedAsync(accountId, id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No auth connector with id '{id}'.");
        }

        var errors = new ValidationErrors();
        if (patch.Name is not null)
        {
            errors.Length("name", patch.Name.Trim(), 1, 200);
        }

        (AuthPublic Public, AuthSecrets Secrets)? credentials = null;
        var newCredentials = patch.Type is not null || patch.Basic is not null || patch.Bearer is not null || patch.ApiKey is not null;
        var type = patch.Type ?? AuthConnectorMapping.ParseType(row.Type);
        if (newCredentials)
        {
            credentials = AuthConnectorMapping.Credentials(type, patch.Basic, patch.Bearer, patch.ApiKey, errors);
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        if (patch.Name is not null)
        {
            row.Name = patch.Name.Trim();
        }

        var changed = new List<(Connection Connection, string Before)>();
        if (credentials is { } c)
        {
            AuthConnectorMapping.Store(row, type, c.Public, c.Secrets, protector);
            // What the connections send changed: they must be tested again before they are active.
            var users = await db.Connections.Where(x => x.AccountId == accountId && x.AuthConnectorId == row.Id).ToListAsync(cancellationToken);
            foreach (var connection in users)
            {
                changed.Add((connection, connection.Status));
                Connections.ConnectionRules.ShapeChanged(connection, now, "The auth connector's credentials changed.");
            }
        }

        row.UpdatedAt = now;
        await db.SaveChangesAsync(cancellationToken);
        foreach (var (connection, before) in changed)
        {
            await Connections.ConnectionRules.MoveDeliveriesAsync(db, connection, before, now, cancellationToken);
        }
        return TypedResults.Ok(AuthConnectorMapping.ToOut(row));
    }
}
