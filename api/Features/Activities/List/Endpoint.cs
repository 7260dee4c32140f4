using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Activities.List;

internal sealed class Endpoint : IEndpoint
{
    /// <summary>"Three months": a pull covers at most this much time.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(92);

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/activities", Handle)
            .WithName("Activities_List")
            .WithTags("Activities")
            .WithSummary("Pull activity events by time range")
            .WithDescription("`from` and `to` (ISO 8601, to exclusive) are required and at most three months (92 days) apart; they select by activityDateTime. Oldest first, in the order accepted. Each event shows its state in the account's feed.")
            .RequireScopes(Scopes.LogsRead)
            .ProducesValidationProblems()
            .ProducesAuthProblems();

    private static async Task<Results<Ok<Page<ActivityOut>>, ProblemHttpResult>> Handle(
        HttpContext http,
        WebhooksDbContext db,
        DateTimeOffset? from,
        DateTimeOffset? to,
        string? activityStatus,
        string? email,
        string? contactId,
        string? mediaType,
        int? limit,
        string? cursor,
        CancellationToken cancellationToken)
    {
        var errors = new ValidationErrors();
        if (from is null)
        {
            errors.Add("from", "from is required (ISO 8601).");
        }

        if (to is null)
        {
            errors.Add("to", "to is required (ISO 8601).");
        }

        if (from is not null && to is not null)
        {
            if (to <= from)
            {
                errors.Add("to", "to must be after from.");
            }
            else if (to - from > MaxRange)
            {
                errors.Add("to", "from and to may be at most three months (92 days) apart.");
            }
        }

        if (activityStatus is not null && !Enum.GetValues<ActivityStatusKind>().Select(FeedStatusNames.Name).Contains(activityStatus))
        {
            errors.Add("activityStatus", "activityStatus must be one of DELIVERED, UNDELIVERED, READ, CLICKED, UNSUBSCRIBED, SPAM, SUBSCRIPTION_CHANGED.");
        }

        if (errors.Any)
        {
            return errors.ToProblem();
        }

        if (!PageRequest.TryCreate(limit, cursor, out var page, out var problem))
        {
            return problem!;
        }

        var accountId = http.User.GetAccountId();
        var start = from!.Value;
        var end = to!.Value;
        var query = db.ActivityEvents.AsNoTracking().Where(e => e.AccountId == accountId && e.ActivityAt >= start && e.ActivityAt < end);
        if (activityStatus is not null)
        {
            query = query.Where(e => e.ActivityStatus == activityStatus);
        }

        if (email is not null)
        {
            var lowered = email.ToLowerInvariant();
            query = query.Where(e => e.Email == lowered);
        }

        if (contactId is not null)
        {
            query = query.Where(e => e.ContactId == contactId);
        }

        if (mediaType is not null)
        {
            query = query.Where(e => e.MediaType == mediaType);
        }

        return TypedResults.Ok(await page.OldestFirstAsync(query, e => new ActivityOut(
            e.Id.ToString(), e.ActivityStatus, e.ActivityAt, e.ContactId, e.Email, e.MediaType, e.Iid,
            JsonNode.Parse(e.PayloadJson), FeedStatusNames.Parse(e.FeedStatus), e.BatchId?.ToString(), e.CreatedAt), cancellationToken));
    }
}
