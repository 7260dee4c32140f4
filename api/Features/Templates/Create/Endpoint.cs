using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Features.Connections;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Templates.Create;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/templates", Handle)
            .WithName("Templates_Create")
            .WithTags("Templates")
            .WithSummary("Save a connection's configuration as a template")
            .WithDescription("Create connections from it with `fromTemplateId`.")
            .RequireScopes(Scopes.ConnectionsManage)
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Created<TemplateOut>, ProblemHttpResult>> Handle(
        TemplateIn request, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var errors = new ValidationErrors();
        errors.Length("name", request.Name.Trim(), 1, 200);
        var connection = await db.Connections.AsNoTracking().FindOwnedAsync(accountId, request.ConnectionId, cancellationToken);
        if (connection is null)
        {
            errors.Add("connectionId", $"No connection with id '{request.ConnectionId}'.");
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var template = new WebhookTemplate
        {
            Id = Ids.New(now),
            AccountId = accountId,
            Name = request.Name.Trim(),
            SettingsJson = TemplateMapping.Serialize(ConnectionDraft.From(connection!)),
            CreatedAt = now,
        };
        db.WebhookTemplates.Add(template);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/templates/{template.Id}", TemplateMapping.ToOut(template));
    }
}
