using System.Globalization;
using System.Linq.Expressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Jobs;
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

    /// <summary>
    /// Attempts to read a page from. <see cref="IdsFirst"/> when the query sorts all it finds;
    /// <see cref="Recheck"/>, a condition the query leaves to the page's rows (see <see cref="FirstRowsAsync"/>).
    /// </summary>
    private sealed record Source(IQueryable<Attempt> Query, bool IdsFirst = false, Expression<Func<Attempt, bool>>? Recheck = null);

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
        IOptions<LogsOptions> options,
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
        foreach (var source in await SourcesAsync(db, accountId, contact, test, options.Value.ContactSortLimit, cancellationToken))
        {
            var query = source.Query;
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
                rows.Add(await FirstRowsAsync(db, source with { Query = query }, page.Limit + 1, cancellationToken));
                continue;
            }

            // A class is a range on status_code: no index gives it newest first, and at millions of
            // rows both plans the planner has (sort the whole class, or walk every id and filter)
            // grow with the table. Each code of the class is an equality on (account_id,
            // status_code, id) that reads its page already in order, so one bounded page per code
            // that occurs, merged, is the class's page.
            foreach (var classCode in codesOfClass)
            {
                rows.Add(await FirstRowsAsync(db, source with { Query = query.Where(a => a.StatusCode == classCode) }, page.Limit + 1, cancellationToken));
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
    /// deliveries' indexes by contact id and identifier (migration
    /// 20261202000015_AttemptSubjectsThroughDeliveries), and the account's test sends to it, read
    /// from the index of test sends. Requests the activity feed sent (an activity batch's, not a
    /// contact's) have no contact.
    /// </para>
    /// <para>
    /// A contact's attempts are read one of two ways, by how many deliveries it has, counted up
    /// to <see cref="LogsOptions.ContactSortLimit"/> on the deliveries' index. Most contacts have a few: their
    /// attempts are read by delivery_id and sorted (the query has no account_id term of its own,
    /// or SQLite's planner would walk the account's whole log instead; the deliveries are the
    /// account's, and so are their attempts). A contact on every list has too many to sort for
    /// each page: the account's log is walked newest first, each row looked up among the
    /// contact's deliveries, until a page is found. Sorting costs ~7 us an attempt (~11 with the
    /// email filter) reading each row, walking ~0.7 us a row passed (logs benchmark, SQLite,
    /// 1,000,000 rows): at 5,000,000 rows the two cost the same near 5,000 deliveries.
    /// </para>
    /// </summary>
    private static async Task<List<Source>> SourcesAsync(WebhooksDbContext db, Guid accountId, ContactFilter contact, bool? test, int sortLimit, CancellationToken cancellationToken)
    {
        var log = db.Attempts.AsNoTracking();
        if (!contact.Any)
        {
            // `is_test` spelled out, not compared with a parameter: only then may the planner use
            // the partial index of test sends (migration 20261123000007_TestSendIndex).
            var accounts = log.Where(a => a.AccountId == accountId);
            return
            [
                new Source(test switch
                {
                    true => accounts.Where(a => a.IsTest),
                    false => accounts.Where(a => !a.IsTest),
                    null => accounts,
                }),
            ];
        }

        var sources = new List<Source>(2);
        if (test is not true)
        {
            var accounts = db.Deliveries.AsNoTracking().Where(d => d.AccountId == accountId);
            var deliveries = accounts.OfContact(contact);
            // Counted on one index alone (an email's rows by identifier, without reading each row
            // for its email column): never fewer than match, and it only picks the plan.
            var bound = accounts.OfContact(contact.ContactId is not null ? new ContactFilter(contact.ContactId, null, null) : new ContactFilter(null, null, contact.Identifier ?? contact.Email));
            if (await bound.Take(sortLimit + 1).CountAsync(cancellationToken) > sortLimit)
            {
                sources.Add(new Source(log.Where(a => a.AccountId == accountId && deliveries.Any(d => d.Id == a.DeliveryId))));
            }
            else if (contact.Email is { } email)
            {
                // The email is the identifier of every row that has it: the deliveries are found by
                // identifier from the index alone, and the email itself (which only a row would
                // give) is checked on the page's attempts, which carry it too.
                var byIdentifier = accounts.Where(d => d.Identifier == email).OfContact(contact with { Email = null });
                sources.Add(new Source(log.Where(a => byIdentifier.Select(d => (Guid?)d.Id).Contains(a.DeliveryId)), IdsFirst: true, Recheck: a => a.Email == email));
            }
            else
            {
                sources.Add(new Source(log.Where(a => deliveries.Select(d => (Guid?)d.Id).Contains(a.DeliveryId)), IdsFirst: true));
            }
        }

        if (test is not false)
        {
            sources.Add(new Source(log.Where(a => a.AccountId == accountId && a.IsTest).OfContact(contact)));
        }

        return sources;
    }

    /// <summary>
    /// The first <paramref name="count"/> rows of the source's query, newest first. With
    /// <see cref="Source.IdsFirst"/> (a query that sorts what it finds), the page's ids are found
    /// first and then only their rows read: a contact's attempts by delivery_id come with their
    /// ids in the index (migration 20261202000016_AttemptsByDeliveryWithId), so sorting them
    /// reads no row unless another filter needs one.
    /// </summary>
    private static async Task<List<Row>> FirstRowsAsync(WebhooksDbContext db, Source source, int count, CancellationToken cancellationToken)
    {
        if (!source.IdsFirst)
        {
            return await RowsAsync(source.Query, count, cancellationToken);
        }

        var ids = source.Query.OrderByDescending(a => a.Id).Take(count).Select(a => a.Id);
        if (source.Recheck is null)
        {
            return await RowsAsync(db.Attempts.AsNoTracking().Where(a => ids.Contains(a.Id)), count, cancellationToken);
        }

        // Rows the recheck drops would leave the page short: then (a contact id that is also
        // someone's email, say) the page is read again with the check in the query.
        var found = await ids.ToListAsync(cancellationToken);
        var rows = await RowsAsync(db.Attempts.AsNoTracking().Where(a => found.Contains(a.Id)).Where(source.Recheck), count, cancellationToken);
        return rows.Count == found.Count ? rows : await RowsAsync(source.Query.Where(source.Recheck), count, cancellationToken);
    }

    private static Task<List<Row>> RowsAsync(IQueryable<Attempt> query, int count, CancellationToken cancellationToken) => query
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
