using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Logs.List;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/logs", Handle)
            .WithName("Logs_List")
            .WithTags("Logs")
            .WithSummary("List logged requests")
            .WithDescription("""
                Every request sent (delivery attempts, and test sends marked `test`), newest first, without headers
                or bodies (get one by id for those). Filters combine: `connectionId`, `workflowWebhookId`, `statusCode`
                (exact, `404`, or a class, `5xx`), `outcome`, `contactId`, `email` (case-insensitive), `identifier`
                (the contact's email, else phone, else id), `from` (inclusive) and `to` (exclusive) as ISO 8601 times,
                and `test`. Logs are kept `Logs:RetentionDays` (28 by default).
                """)
            .RequireScopes(Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    /// <summary>The columns a list item needs: headers and bodies stay in the database.</summary>
    private sealed record Row(
        Guid Id, DateTimeOffset CreatedAt, Guid? DeliveryId, Guid ConnectionId, Guid? WorkflowWebhookId, string? ContactId, string? Email, string? Phone,
        string? Identifier, int AttemptNumber, bool IsTest, string RequestMethod, string RequestUrl, int? StatusCode, int DurationMs, string Outcome, string? Error);

    private static async Task<Results<Ok<Page<LogEntryOut>>, ProblemHttpResult>> Handle(
        HttpContext http,
        WebhooksDbContext db,
        string? connectionId,
        string? workflowWebhookId,
        string? statusCode,
        string? outcome,
        string? contactId,
        string? email,
        string? identifier,
        DateTimeOffset? from,
        DateTimeOffset? to,
        bool? test,
        int? limit,
        string? cursor,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var errors = new ValidationErrors();
        var connection = QueryFilters.Id(errors, "connectionId", connectionId);
        var step = QueryFilters.Id(errors, "workflowWebhookId", workflowWebhookId);
        var codes = statusCode is null ? null : StatusCodeFilter.Parse(errors, statusCode);
        if (outcome is not null && !Outcomes.All.Contains(outcome))
        {
            errors.Add("outcome", $"outcome must be one of: {string.Join(", ", Outcomes.All)}.");
        }

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
        var contact = new ContactFilter(contactId, email, identifier);
        var rows = new List<IReadOnlyList<Row>>();
        var codesOfClass = codes is { Exact: null } statusClass ? await StatusCodesInAsync(db, accountId, statusClass, cancellationToken) : null;
        foreach (var source in Sources(db, accountId, contact, test))
        {
            var query = source;
            if (connection is { } c)
            {
                query = query.Where(a => a.ConnectionId == c);
            }

            if (step is { } s)
            {
                query = query.Where(a => a.WorkflowWebhookId == s);
            }

            if (codes?.Exact is { } code)
            {
                query = query.Where(a => a.StatusCode == code);
            }

            if (outcome is not null)
            {
                query = query.Where(a => a.Outcome == outcome);
            }

            query = query.CreatedWithin(from, to);
            if (page.After is { } after)
            {
                query = query.Where(a => a.Id.CompareTo(after) < 0);
            }

            if (codesOfClass is null)
            {
                rows.Add(await FirstRowsAsync(query, page.Limit + 1, cancellationToken));
                continue;
            }

            // A class is a range on status_code: no index gives it newest first, and at millions of
            // rows both plans the planner has (sort the whole class, or walk every id and filter)
            // grow with the table. Each code of the class is an equality on (account_id,
            // status_code, id) that reads its page already in order, so one bounded page per code
            // that occurs, merged, is the class's page.
            foreach (var classCode in codesOfClass)
            {
                rows.Add(await FirstRowsAsync(query.Where(a => a.StatusCode == classCode), page.Limit + 1, cancellationToken));
            }
        }

        var merged = rows.Count == 1 ? rows[0] : NewestFirst.Merge(rows, r => r.Id, page.Limit + 1);
        return TypedResults.Ok(page.ToPage(merged, r => r.Id, ToOut));
    }

    /// <summary>
    /// Where the rows come from, each already narrowed to the account (and to the contact, when
    /// filtered by one): pages read from each are merged newest first.
    /// <para>
    /// Without a contact filter, the account's log (only test sends, or none, with `test`). With
    /// one, the attempts of the account's deliveries to that contact, found through the
    /// deliveries' indexes by contact id and identifier and the attempts' delivery_id (migration
    /// 20261202000015_AttemptSubjectsThroughDeliveries), and the account's test sends to it, read
    /// from the index of test sends. That first query has no account_id term of its own: the
    /// deliveries are the account's, and every attempt of a delivery is its account's. With one,
    /// SQLite's planner would walk the account's whole log in id order testing each row against
    /// the deliveries; without, it reads the contact's attempts by delivery_id and sorts them.
    /// Requests the activity feed sent (an activity batch's, not a contact's) have no contact.
    /// </para>
    /// </summary>
    private static IEnumerable<IQueryable<Attempt>> Sources(WebhooksDbContext db, Guid accountId, ContactFilter contact, bool? test)
    {
        var log = db.Attempts.AsNoTracking();
        if (!contact.Any)
        {
            // `is_test` spelled out, not compared with a parameter: only then may the planner use
            // the partial index of test sends (migration 20261123000007_TestSendIndex).
            var accounts = log.Where(a => a.AccountId == accountId);
            yield return test switch
            {
                true => accounts.Where(a => a.IsTest),
                false => accounts.Where(a => !a.IsTest),
                null => accounts,
            };
            yield break;
        }

        if (test is not true)
        {
            var deliveries = db.Deliveries.AsNoTracking().Where(d => d.AccountId == accountId).OfContact(contact).Select(d => (Guid?)d.Id);
            yield return log.Where(a => deliveries.Contains(a.DeliveryId));
        }

        if (test is not false)
        {
            yield return log.Where(a => a.AccountId == accountId && a.IsTest).OfContact(contact);
        }
    }

    private static Task<List<Row>> FirstRowsAsync(IQueryable<Attempt> query, int count, CancellationToken cancellationToken) => query
        .OrderByDescending(a => a.Id)
        .Take(count)
        .Select(a => new Row(a.Id, a.CreatedAt, a.DeliveryId, a.ConnectionId, a.WorkflowWebhookId, a.ContactId, a.Email, a.Phone,
            a.Identifier, a.AttemptNumber, a.IsTest, a.RequestMethod, a.RequestUrl, a.StatusCode, a.DurationMs, a.Outcome, a.Error))
        .ToListAsync(cancellationToken);

    /// <summary>
    /// The codes of the class that the account's log holds, each found by one index seek on
    /// (account_id, status_code, id) from the previous one (a loose index scan): a handful of
    /// seeks, where DISTINCT would read every row of the class.
    /// </summary>
    private static async Task<List<int>> StatusCodesInAsync(WebhooksDbContext db, Guid accountId, StatusCodeFilter statusClass, CancellationToken cancellationToken)
    {
        var found = new List<int>();
        var next = statusClass.Low;
        while (next < statusClass.High)
        {
            var low = next;
            var code = await db.Attempts.AsNoTracking()
                .Where(a => a.AccountId == accountId && a.StatusCode >= low && a.StatusCode < statusClass.High)
                .OrderBy(a => a.StatusCode)
                .Select(a => a.StatusCode)
                .FirstOrDefaultAsync(cancellationToken);
            if (code is not { } c)
            {
                break;
            }

            found.Add(c);
            next = c + 1;
        }

        return found;
    }

    private static LogEntryOut ToOut(Row r) => new(
        r.Id.ToString(), r.CreatedAt, r.DeliveryId?.ToString(), r.ConnectionId.ToString(), r.WorkflowWebhookId?.ToString(),
        r.ContactId, r.Email, r.Phone, r.Identifier, r.AttemptNumber, r.IsTest, r.RequestMethod, r.RequestUrl, r.StatusCode, r.DurationMs, r.Outcome, r.Error);
}

/// <summary>`404` (one code) or `4xx` (a class): the half-open range [Low, High).</summary>
internal readonly record struct StatusCodeFilter(int Low, int High)
{
    public int? Exact => High == Low + 1 ? Low : null;

    public static StatusCodeFilter? Parse(ValidationErrors errors, string value)
    {
        if (value.Length == 3 && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code is >= 100 and <= 599)
        {
            return new StatusCodeFilter(code, code + 1);
        }

        if (value.Length == 3 && value[0] is >= '1' and <= '5' && value[1..].Equals("xx", StringComparison.OrdinalIgnoreCase))
        {
            var low = (value[0] - '0') * 100;
            return new StatusCodeFilter(low, low + 100);
        }

        errors.Add("statusCode", "statusCode must be a status code (100 to 599, e.g. 404) or a class (1xx to 5xx, e.g. 5xx).");
        return null;
    }
}
