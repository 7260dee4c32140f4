using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Logs.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/logs/{id}", Handle)
            .WithName("Logs_Get")
            .WithTags("Logs")
            .WithSummary("Get a logged request")
            .WithDescription("The whole exchange: the request as sent (secrets masked), and the answer's status, headers and the first 64 KiB of its body.")
            .RequireScopes(Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<LogEntryDetailOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = Guid.TryParse(id, out var key)
            ? await db.Attempts.AsNoTracking().FirstOrDefaultAsync(a => a.Id == key && a.AccountId == accountId, cancellationToken)
            : null;
        return row is null ? Problems.NotFound($"No log entry with id '{id}' (it may have passed the retention period).") : TypedResults.Ok(LogMapping.ToDetailOut(row));
    }
}
