using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Create;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/connections", Handle)
            .WithName("Connections_Create")
            .WithTags("Connections")
            .WithSummary("Create a connection")
            .WithDescription("A new connection is `pending` until a successful test and `activate`. The response carries the signing secret, shown only here (rotate it to get a new one). With `fromTemplateId`, the template's settings are the defaults and the request's fields override them.")
            .RequireScopes(Scopes.ConnectionsManage)
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Created<ConnectionOut>, ProblemHttpResult>> Handle(
        ConnectionIn request, HttpContext http, WebhooksDbContext db, UrlPolicy urlPolicy, SecretProtector protector, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var errors = new ValidationErrors();
        ConnectionDraft? template = null;
        if (request.FromTemplateId is not null)
        {
            var saved = Guid.TryParse(request.FromTemplateId, out var templateId)
                ? await db.WebhookTemplates.AsNoTracking().FirstOrDefaultAsync(t => t.Id == templateId && t.AccountId == accountId, cancellationToken)
                : null;
            if (saved is null)
            {
                return Problems.Validation("fromTemplateId", $"No template with id '{request.FromTemplateId}'.");
            }

            template = Templates.TemplateMapping.ToDraft(saved);
        }

        var draft = ConnectionDraft.From(request, template);
        await draft.ValidateAsync(errors, accountId, db, urlPolicy, cancellationToken);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var (secret, protectedSecret) = ConnectionRules.NewSigningSecret(protector);
        var row = new Connection
        {
            Id = Ids.New(now),
            AccountId = accountId,
            Title = string.Empty,
            Url = string.Empty,
            Method = string.Empty,
            HeadersJson = "{}",
            BodyFormat = string.Empty,
            RetryPolicyJson = "{}",
            Status = ConnectionStatuses.Pending,
            StatusReason = "New: test it, then activate it.",
            StatusChangedAt = now,
            ShapeVersion = 1,
            SigningSecretProtected = protectedSecret,
            CreatedAt = now,
            UpdatedAt = now,
        };
        draft.ApplyTo(row);
        db.Connections.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Created($"/v1/connections/{row.Id}", ConnectionRules.ToOut(row, secret));
    }
}
