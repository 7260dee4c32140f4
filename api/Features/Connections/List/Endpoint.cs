using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/connections", Handle)
            .WithName("Connections_List")
            .WithTags("Connections")
            .WithSummary("List connections")
            .WithDescription("Newest first. `status`: pending, active, error, disabled or deleted. Without `status`, every connection that is not deleted; `status=deleted` lists the deleted ones (they can be restored).")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<ConnectionOut>>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, string? status, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        ConnectionStatus? wanted = null;
        if (status is not null)
        {
            if (!Enum.TryParse<ConnectionStatus>(status, ignoreCase: true, out var parsed) || int.TryParse(status, out _))
            {
                return Problems.Validation("status", "status must be one of: pending, active, error, disabled, deleted.");
            }

            wanted = parsed;
        }

        var accountId = http.User.GetAccountId();
        var query = db.Connections.AsNoTracking().Where(c => c.AccountId == accountId);
        if (wanted is { } filter)
        {
            var name = filter.ToString().ToLowerInvariant();
            query = query.Where(c => c.Status == name);
        }
        else
        {
            query = query.Where(c => c.Status != ConnectionStatuses.Deleted);
        }

        return TypedResults.Ok(await page.NewestFirstAsync(query, c => ConnectionRules.ToOut(c), cancellationToken));
    }
}
