using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Deliveries.List;

/// <summary>A delivery as a list shows it: its state and last result, without payload or response body (get it by id for those).</summary>
internal sealed record DeliverySummaryOut(
    string Id,
    string WebhookId,
    DeliveryStatus Status,
    string ConnectionId,
    string? WorkflowWebhookId,
    string? ContactId,
    string? Email,
    string? Phone,
    string? Identifier,
    int Attempts,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? LastStatusCode,
    string? LastOutcome,
    string? FailureReason,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt);

internal sealed class Endpoint : IEndpoint
{
    private static readonly string[] AllStatuses = [.. Enum.GetValues<DeliveryStatus>().Select(s => s.ToString().ToLowerInvariant())];

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/deliveries", Handle)
            .WithName("Deliveries_List")
            .WithTags("Deliveries")
            .WithSummary("List deliveries")
            .WithDescription("""
                Newest first. Filters combine: `status` (pending, delivering, succeeded, failed, held, skipped),
                `connectionId`, `workflowWebhookId`, `contactId`, `email` (case-insensitive), `identifier` (the contact's
                email, else its phone, else its id, as each delivery shows it; an email matches in any case), and
                `from` (inclusive) / `to` (exclusive) on the time the delivery was accepted, as ISO 8601 times.
                """)
            .RequireScopes(Scopes.LogsRead, Scopes.EventsSend, Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private sealed record Row(
        Guid Id, string Status, Guid ConnectionId, Guid? WorkflowWebhookId, string? ContactId, string? Email, string? Phone, string? Identifier,
        int AttemptCount, DateTimeOffset NextAttemptAt, DateTimeOffset? LastAttemptAt, int? LastStatusCode, string? LastOutcome, string? FailureReason,
        DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? CompletedAt);

    private static async Task<Results<Ok<Page<DeliverySummaryOut>>, ProblemHttpResult>> Handle(
        HttpContext http,
        WebhooksDbContext db,
        string? status,
        string? connectionId,
        string? workflowWebhookId,
        string? contactId,
        string? email,
        DateTimeOffset? from,
        DateTimeOffset? to,
        int? limit,
        string? cursor,
        // Last, after the parameters it came after: the generated clients take them in this
        // order, and a caller's positional arguments keep their meaning.
        string? identifier,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var errors = new ValidationErrors();
        string? wanted = null;
        if (status is not null)
        {
            if (!Enum.TryParse<DeliveryStatus>(status, ignoreCase: true, out var parsed) || int.TryParse(status, out _))
            {
                errors.Add("status", "status must be one of: pending, delivering, succeeded, failed, held, skipped.");
            }
            else
            {
                wanted = parsed.ToString().ToLowerInvariant();
            }
        }

        var connection = QueryFilters.Id(errors, "connectionId", connectionId);
        var step = QueryFilters.Id(errors, "workflowWebhookId", workflowWebhookId);
        contactId = QueryFilters.Text(errors, "contactId", contactId, 200);
        email = QueryFilters.Text(errors, "email", email, 320)?.ToLowerInvariant();
        identifier = QueryFilters.Text(errors, "identifier", identifier, 320);
        // PostgreSQL's timestamptz takes UTC values only; the caller may give any offset.
        (from, to) = (from?.ToUniversalTime(), to?.ToUniversalTime());
        QueryFilters.Range(errors, from, to);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        var accountId = http.User.GetAccountId();
        var query = db.Deliveries.AsNoTracking().Where(d => d.AccountId == accountId);
        if (wanted is not null)
        {
            query = query.Where(d => d.Status == wanted);
        }

        if (connection is { } c)
        {
            query = query.Where(d => d.ConnectionId == c);
        }

        if (step is { } s)
        {
            query = query.Where(d => d.WorkflowWebhookId == s);
        }

        query = query.OfContact(new ContactFilter(contactId, email, identifier));
        query = query.CreatedWithin(from, to);

        if (page.After is { } after)
        {
            query = query.Where(d => d.Id.CompareTo(after) < 0);
        }

        if (wanted is null && connection is null && step is null && contactId is null && email is null && identifier is null)
        {
            // No filter with an index of its own: the first rows of each status from (account_id,
            // status, id), each read newest first, and the newest of them (as the log merges a
            // status class). One statement (UNION ALL), so that one snapshot of the rows is read:
            // a delivery changing status between two statements could have been read twice or
            // not at all. An index of (account_id, id) for this list alone was written for every
            // row, and on PostgreSQL for every status change (migration 20261201000011_LeanerIndexes).
            var each = AllStatuses.Select(one => query.Where(d => d.Status == one).OrderByDescending(d => d.Id).Take(page.Limit + 1));
            query = each.Aggregate((all, next) => all.Concat(next));
        }

        var rows = await query
            .OrderByDescending(d => d.Id)
            .Take(page.Limit + 1)
            .Select(d => new Row(d.Id, d.Status, d.ConnectionId, d.WorkflowWebhookId, d.ContactId, d.Email, d.Phone, d.Identifier, d.AttemptCount,
                d.NextAttemptAt, d.LastAttemptAt, d.LastStatusCode, d.LastOutcome, d.FailureReason, d.CreatedAt, d.UpdatedAt, d.CompletedAt))
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(page.ToPage(rows, r => r.Id, ToOut));
    }

    private static DeliverySummaryOut ToOut(Row d) => new(
        d.Id.ToString(),
        WebhookSigner.NewMessageId(d.Id),
        Enum.Parse<DeliveryStatus>(d.Status, ignoreCase: true),
        d.ConnectionId.ToString(),
        d.WorkflowWebhookId?.ToString(),
        d.ContactId,
        d.Email,
        d.Phone,
        d.Identifier,
        d.AttemptCount,
        d.Status is DeliveryStatuses.Pending or DeliveryStatuses.Held ? d.NextAttemptAt : null,
        d.LastAttemptAt,
        d.LastStatusCode,
        d.LastOutcome,
        d.FailureReason,
        d.CreatedAt,
        d.UpdatedAt,
        d.CompletedAt);
}
