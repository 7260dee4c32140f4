using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Templates.Delete;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/templates/{id}", Handle)
            .WithName("Templates_Delete")
            .WithTags("Templates")
            .WithSummary("Delete a template")
            .WithDescription("Connections created from it keep their settings.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        string id, HttpContext http, WebhooksDbContext db, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var deleted = Guid.TryParse(id, out var key)
            ? await db.WebhookTemplates.Where(t => t.Id == key && t.AccountId == accountId).ExecuteDeleteAsync(cancellationToken)
            : 0;
        return deleted == 0 ? Problems.NotFound($"No template with id '{id}'.") : TypedResults.NoContent();
    }
}
