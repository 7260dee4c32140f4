using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Templates.Get;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/templates/{id}", Handle)
            .WithName("Templates_Get")
            .WithTags("Templates")
            .WithSummary("Get a template")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<TemplateOut>, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = Guid.TryParse(id, out var key)
            ? await db.WebhookTemplates.AsNoTracking().FirstOrDefaultAsync(t => t.Id == key && t.AccountId == accountId, cancellationToken)
            : null;
        return row is null ? Problems.NotFound($"No template with id '{id}'.") : TypedResults.Ok(TemplateMapping.ToOut(row));
    }
}
