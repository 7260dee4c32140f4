using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Delivery;
using WebhooksApi.Features.Deliveries;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Execute;

/// <summary>One contact to send: at least one of contact.id, contact.email, contact.phone.</summary>
internal sealed record ExecutionItemIn(JsonObject Contact, JsonObject? Event = null, JsonObject? Variables = null);

/// <summary>One execution (`contact`, `event`, `variables`) or a batch (`items`, up to 10,000).</summary>
internal sealed record ExecutionIn(JsonObject? Contact = null, JsonObject? Event = null, JsonObject? Variables = null, IReadOnlyList<ExecutionItemIn>? Items = null);

internal sealed record AcceptedDeliveryOut(string Id, DeliveryStatus Status);

/// <summary>What was accepted: every item is a durable delivery, committed before this answer.</summary>
internal sealed record ExecutionsOut(IReadOnlyList<AcceptedDeliveryOut> Items, int Pending, int Held, int Skipped);

internal sealed class Endpoint : IEndpoint
{
    public const int MaxItems = 10_000;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/workflow-webhooks/{id}/executions", Handle)
            .WithName("WorkflowWebhooks_Execute")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Execute a workflow webhook for one contact or a batch")
            .WithDescription("""
                Each item becomes a durable delivery before the 202. A connection that is active sends at once;
                pending (untested) or in error holds deliveries until it is active; disabled or deleted records them
                as skipped (the workflow is never blocked). With `wait=true` (one item only) the call waits up to the
                connection's timeout for the first attempt and returns the delivery with its response (a data-source step).
                """)
            .RequireScopes(Scopes.EventsSend)
            .Idempotent(claimAtCommit: true)
            .WithMetadata(new OpenApi.JsonSchemaMetadata("/schemas/workflow-execution.schema.json", "https://webhooks-api.dev/schemas/workflow-execution.schema.json"))
            .WithMetadata(new RequestSizeLimitAttribute(32 * 1024 * 1024))
            .Produces<ExecutionsOut>(StatusCodes.Status202Accepted)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesAuthProblems();

    private static async Task<Results<Accepted<ExecutionsOut>, Ok<DeliveryOut>, ProblemHttpResult>> Handle(
        string id,
        ExecutionIn request,
        bool? wait,
        HttpContext http,
        HotQueries reads,
        DeliverySignals signals,
        AcceptCommitter committer,
        TimeProvider time,
        IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json,
        CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        // The request's database context is not asked for here: on SQLite resolving it opens a
        // connection, and the accept path reads on prepared connections instead (HotQueries).
        if (await reads.OwnedTargetAsync(http.RequestServices, accountId, id, cancellationToken) is not { } target)
        {
            return Problems.NotFound($"No workflow webhook with id '{id}'.");
        }

        var errors = new ValidationErrors();
        var items = Items(request, errors);
        if (wait == true && items.Count != 1)
        {
            errors.Add("wait", "wait=true takes exactly one execution.");
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var status = target.ConnectionStatus switch
        {
            ConnectionStatuses.Active => DeliveryStatuses.Pending,
            ConnectionStatuses.Disabled or ConnectionStatuses.Deleted => DeliveryStatuses.Skipped,
            _ => DeliveryStatuses.Held,
        };
        var ordered = Connections.ConnectionRules.ReadRetryPolicy(target.RetryPolicyJson).Kind == Connections.RetryKind.Ordered;
        var fields = WorkflowWebhookRules.Fields(target.FieldsJson);
        var extra = WorkflowWebhookRules.Extra(target.ExtraJson);
        var now = time.GetUtcNow();
        var rows = new List<WebhookDelivery>(items.Count);
        foreach (var (prefix, item) in items)
        {
            var contactId = Text(item.Contact, "id");
            var email = Text(item.Contact, "email");
            var phone = Text(item.Contact, "phone");
            // The request's own nodes become the payload: each is read once, here, so copying
            // them (DeepClone, a full walk and allocation of every item) bought nothing.
            var variables = Own(item.Variables) ?? [];
            foreach (var (key, value) in extra)
            {
                variables[key] = value;
            }

            var payload = new JsonObject { ["contact"] = Narrow(Own(item.Contact)!, fields), ["event"] = Own(item.Event) ?? [], ["variables"] = variables };
            rows.Add(new WebhookDelivery
            {
                Id = Ids.New(now),
                AccountId = accountId,
                ConnectionId = target.ConnectionId,
                WorkflowWebhookId = target.StepId,
                Status = status,
                Ordered = ordered,
                PayloadJson = payload.ToJsonString(),
                ContactId = Cap(contactId, 200),
                Email = Cap(email?.ToLowerInvariant(), 320),
                Phone = Cap(phone, 50),
                // Lower-cased like the email column, so filters by identifier match it exactly.
                Identifier = Cap(email?.ToLowerInvariant() ?? phone ?? contactId, 320),
                NextAttemptAt = now,
                CreatedAt = now,
                UpdatedAt = now,
                CompletedAt = status == DeliveryStatuses.Skipped ? now : null,
                FailureReason = status == DeliveryStatuses.Skipped ? $"connection_{target.ConnectionStatus}" : null,
            });
        }

        var outStatus = Enum.Parse<DeliveryStatus>(status, ignoreCase: true);
        var accepted = rows.Select(r => new AcceptedDeliveryOut(r.Id.ToString(), outStatus)).ToList();
        var pending = status == DeliveryStatuses.Pending ? rows.Count : 0;
        var held = status == DeliveryStatuses.Held ? rows.Count : 0;
        var skipped = status == DeliveryStatuses.Skipped ? rows.Count : 0;
        var answer = new ExecutionsOut(accepted, pending, held, skipped);

        var claim = http.Features.Get<IdempotencyClaim>();
        if (wait == true && claim is not null && !await claim.TakeNowAsync())
        {
            // The answer to wait=true comes after the send, so the key must be held before the
            // rows commit; another request holds it, and the middleware answers with its record.
            return Problems.IdempotencyInProgress("Another request holds this Idempotency-Key; retry to get its answer.");
        }

        var waiter = wait == true ? signals.AttemptFinished(rows[0].Id) : null;
        IdempotentAnswer? stored = null;
        if (wait != true && claim is not null)
        {
            // The deliveries and the key's stored answer commit together: a node killed in between
            // would otherwise leave deliveries the client was never told about, and the retry
            // with the same key (taken over once the key is stale) would accept them a second time.
            stored = claim.Answer(StatusCodes.Status202Accepted, "application/json; charset=utf-8", JsonSerializer.SerializeToUtf8Bytes(answer, json.Value.SerializerOptions));
        }

        // Returns once the rows are committed (grouped with concurrent calls).
        var outcome = await committer.CommitAsync(rows, stored, cancellationToken);
        if (outcome == AcceptOutcome.KeyTakenOver)
        {
            return Problems.IdempotencyInProgress("Another request took this Idempotency-Key over; retry to get its answer.");
        }

        // Rows the dispatcher took at the accept are on their way: no claim needs waking for them.
        if (status == DeliveryStatuses.Pending && outcome != AcceptOutcome.Started)
        {
            signals.NewWork();
        }

        if (waiter is not null)
        {
            if (status == DeliveryStatuses.Pending)
            {
                var limit = TimeSpan.FromSeconds(target.TimeoutSeconds + 2);
                await Task.WhenAny(waiter, Task.Delay(limit, TimeProvider.System, cancellationToken));
            }

            signals.Forget(rows[0].Id);
            var db = http.RequestServices.GetRequiredService<WebhooksDbContext>();
            var current = await db.Deliveries.AsNoTracking().FirstAsync(d => d.Id == rows[0].Id, cancellationToken);
            return TypedResults.Ok(DeliveryMapping.ToOut(current));
        }

        return TypedResults.Accepted((string?)null, answer);
    }

    /// <summary>The items with the JSON pointer each is reported under; records what is wrong.</summary>
    private static List<(string Pointer, ExecutionItemIn Item)> Items(ExecutionIn request, ValidationErrors errors)
    {
        var list = new List<(string, ExecutionItemIn)>();
        if (request.Items is not null)
        {
            if (request.Contact is not null)
            {
                errors.Add("/contact", "Send either one execution (contact, event, variables) or items, not both.");
            }

            if (request.Items.Count is 0 or > MaxItems)
            {
                errors.Add("/items", $"items must hold 1 to {MaxItems} executions.");
                return list;
            }

            for (var i = 0; i < request.Items.Count; i++)
            {
                var item = request.Items[i];
                if (item is null)
                {
                    errors.Add($"/items/{i}", "An execution cannot be null.");
                    continue;
                }

                if (!HasIdentifier(item.Contact))
                {
                    errors.Add($"/items/{i}/contact", "The contact needs at least one of id, email, phone.");
                }
                else if (NulFreeStrings.IdentifierWithNul(item.Contact) is { } key)
                {
                    errors.Add($"/items/{i}/contact/{key}", NulFreeStrings.Message);
                }

                list.Add(($"/items/{i}", item));
            }
        }
        else if (request.Contact is null)
        {
            errors.Add("/contact", "contact is required (or items for a batch).");
        }
        else if (!HasIdentifier(request.Contact))
        {
            errors.Add("/contact", "The contact needs at least one of id, email, phone.");
        }
        else if (NulFreeStrings.IdentifierWithNul(request.Contact) is { } key)
        {
            errors.Add($"/contact/{key}", NulFreeStrings.Message);
        }
        else
        {
            list.Add((string.Empty, new ExecutionItemIn(request.Contact, request.Event, request.Variables)));
        }

        return list;
    }

    private static bool HasIdentifier(JsonObject contact) =>
        !string.IsNullOrWhiteSpace(Text(contact, "id")) || !string.IsNullOrWhiteSpace(Text(contact, "email")) || !string.IsNullOrWhiteSpace(Text(contact, "phone"));

    private static string? Text(JsonObject contact, string name)
    {
        foreach (var (key, value) in contact)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase) && value is JsonValue v)
            {
                return v.GetValueKind() switch
                {
                    JsonValueKind.String => v.GetValue<string>(),
                    JsonValueKind.Number => v.ToJsonString(),
                    _ => null,
                };
            }
        }

        return null;
    }

    /// <summary>The step's `fields` narrow the contact (in place); the identifiers always stay.</summary>
    private static JsonObject Narrow(JsonObject contact, IReadOnlyList<string> fields)
    {
        if (fields.Count == 0)
        {
            return contact;
        }

        var keep = new HashSet<string>(fields, StringComparer.OrdinalIgnoreCase) { "id", "email", "phone" };
        foreach (var key in contact.Select(p => p.Key).Where(k => !keep.Contains(k)).ToList())
        {
            contact.Remove(key);
        }

        return contact;
    }

    /// <summary>A node of the request, to attach to the payload: a copy only if it already has a parent.</summary>
    private static JsonObject? Own(JsonObject? node) => node?.Parent is null ? node : (JsonObject)node.DeepClone();

    private static string? Cap(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
