using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Update;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPatch("/v1/connections/{id}", Handle)
            .WithName("Connections_Update")
            .WithTags("Connections")
            .WithSummary("Change a connection")
            .WithDescription("JSON merge patch. Changing what is sent (url, method, headers, auth connector, body format or template, paramsInHeaders) returns an active connection to `pending`; a title or limit change does not.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    private static async Task<Results<Ok<ConnectionOut>, ProblemHttpResult>> Handle(
        string id, ConnectionPatch patch, HttpContext http, WebhooksDbContext db, UrlPolicy urlPolicy, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = await db.Connections.FindOwnedAsync(accountId, id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No connection with id '{id}'.");
        }

        if (row.Status == ConnectionStatuses.Deleted)
        {
            return Problems.Conflict("The connection is deleted: restore it before changing it.");
        }

        // The bound patch cannot tell "absent" from "null"; the raw body can (buffered for PATCH).
        http.Request.Body.Position = 0;
        using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: cancellationToken);

        var errors = new ValidationErrors();
        var draft = ConnectionDraft.From(row);
        draft.Apply(body.RootElement, patch, errors);
        if (!errors.Any)
        {
            await draft.ValidateAsync(errors, accountId, db, urlPolicy, cancellationToken);
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var now = time.GetUtcNow();
        var before = row.Status;
        if (draft.ApplyTo(row))
        {
            ConnectionRules.ShapeChanged(row, now, "Changed since its last test: test it, then activate it.");
        }

        row.UpdatedAt = now;
        await db.SaveChangesAsync(cancellationToken);
        await ConnectionRules.MoveDeliveriesAsync(db, row, before, now, cancellationToken);
        return TypedResults.Ok(ConnectionRules.ToOut(row));
    }
}
