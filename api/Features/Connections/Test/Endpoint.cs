using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections.Test;

/// <summary>What to render the test request from; each part defaults to the built-in sample.</summary>
internal sealed record TestIn(JsonObject? Contact = null, JsonObject? Event = null, JsonObject? Variables = null);

internal sealed record TestRequestOut(string Method, string Url, IReadOnlyDictionary<string, string> Headers, string? Body);

internal sealed record TestResponseOut(IReadOnlyDictionary<string, string> Headers, string Body, bool Truncated);

/// <summary>The whole exchange of a test send. Secrets in the request are masked.</summary>
internal sealed record TestOut(
    string Outcome,
    int? StatusCode,
    int DurationMs,
    TestRequestOut Request,
    TestResponseOut? Response,
    string? Error,
    string AttemptId,
    ConnectionStatus ConnectionStatus,
    bool CanActivate);

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/connections/{id}/test", Handle)
            .WithName("Connections_Test")
            .WithTags("Connections")
            .WithSummary("Send a test request")
            .WithDescription("Sends one real request rendered from the given contact/event/variables (or a built-in sample contact: id 54321, john.doe@example.org, John Doe) and returns the whole exchange. A 2xx answer (and valid JSON when expectJsonResponse) allows `activate`. Logged like any attempt, marked as a test.")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    public static readonly JsonObject SampleContact = new()
    {
        ["id"] = "54321",
        ["email"] = "john.doe@example.org",
        ["phone"] = "+15555550123",
        ["firstName"] = "John",
        ["lastName"] = "Doe",
    };

    public static readonly JsonObject SampleEvent = new() { ["orderId"] = "A-1001", ["total"] = 99.5 };

    private static async Task<Results<Ok<TestOut>, ProblemHttpResult>> Handle(
        string id,
        TestIn? request,
        HttpContext http,
        WebhooksDbContext db,
        RequestComposer composer,
        WebhookSender sender,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var connection = await db.Connections.FindOwnedAsync(accountId, id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound($"No connection with id '{id}'.");
        }

        if (connection.Status == ConnectionStatuses.Deleted)
        {
            return Problems.Conflict("The connection is deleted: restore it before testing it.");
        }

        if (request?.Contact is { } given && NulFreeStrings.IdentifierWithNul(given) is { } key)
        {
            // The attempt's log row keeps the contact's id, email and phone in columns of their own.
            return Problems.Validation($"/contact/{key}", NulFreeStrings.Message);
        }

        var account = await db.Accounts.AsNoTracking().FirstAsync(a => a.Id == accountId, cancellationToken);
        var now = time.GetUtcNow();
        var contact = (JsonObject)(request?.Contact ?? SampleContact).DeepClone();
        var input = new MessageInput(
            contact,
            (JsonObject)(request?.Event ?? SampleEvent).DeepClone(),
            (JsonObject)(request?.Variables ?? []).DeepClone(),
            accountId,
            account.Name,
            WebhookSigner.NewMessageId(Ids.New(now)),
            "webhook.test",
            now);

        var composed = await composer.ComposeAsync(db, connection, input, cancellationToken);
        SendResult? result = null;
        if (composed.Request is not null)
        {
            result = await sender.SendAsync(composed.Request, connection.ExpectJsonResponse, cancellationToken);
        }

        var outcome = composed.TemplateError is not null ? Outcomes.TemplateError : result!.Outcome;
        var subject = new AttemptSubject(Text(contact, "id"), Text(contact, "email"), Text(contact, "phone"), Text(contact, "email") ?? Text(contact, "phone") ?? Text(contact, "id"));
        var attempt = AttemptRecorder.Build(connection, composed.Masked, result, composed.TemplateError, subject, now, isTest: true, attemptNumber: 1);
        db.Attempts.Add(attempt);

        connection.LastTestedAt = now;
        connection.LastTestOutcome = outcome;
        if (outcome == Outcomes.Ok)
        {
            connection.TestedShapeVersion = connection.ShapeVersion;
        }

        await db.SaveChangesAsync(cancellationToken);

        var masked = composed.Masked;
        return TypedResults.Ok(new TestOut(
            outcome,
            result?.StatusCode,
            result?.DurationMs ?? 0,
            new TestRequestOut(masked.Method, masked.Url, masked.Headers, masked.Body),
            result?.ResponseHeaders is null ? null : new TestResponseOut(result.ResponseHeaders, result.ResponseBody ?? string.Empty, result.ResponseTruncated),
            composed.TemplateError ?? result?.Error,
            attempt.Id.ToString(),
            Enum.Parse<ConnectionStatus>(connection.Status, ignoreCase: true),
            outcome == Outcomes.Ok && connection.Status != ConnectionStatuses.Active));
    }

    private static string? Text(JsonObject contact, string name) =>
        contact.FirstOrDefault(p => p.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value is JsonValue v && v.TryGetValue<string>(out var s) ? s
        : contact.FirstOrDefault(p => p.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value?.ToJsonString();
}
