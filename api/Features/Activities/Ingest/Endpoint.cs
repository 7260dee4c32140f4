using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using Quartz;
using WebhooksApi.Http;
using WebhooksApi.Jobs;
using WebhooksApi.Persistence;
using WebhooksApi.Schemas;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Activities.Ingest;

internal sealed class Endpoint : IEndpoint
{
    public const int MaxEvents = 10_000;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/activities", Handle)
            .WithName("Activities_Ingest")
            .WithTags("Activities")
            .WithSummary("Report contact activity events")
            .WithDescription("""
                One event or an array of up to 10,000, each validated against schemas/activity-event.schema.json
                (errors name the JSON pointer, e.g. /3/clickEventLink). Every event is stored before the 202. An event
                repeated with the same iid and activityStatus is accepted once. Events go to the account's activity
                webhook, batched and in order.
                """)
            .RequireScopes(Scopes.EventsSend)
            .Accepts<IReadOnlyList<ActivityEventIn>>("application/json")
            .WithMetadata(new OpenApi.JsonSchemaMetadata("/schemas/activity-event.schema.json", "https://webhooks-api.dev/schemas/activity-event.schema.json"))
            .WithMetadata(new RequestSizeLimitAttribute(32 * 1024 * 1024))
            .Produces<IngestOut>(StatusCodes.Status202Accepted)
            .ProducesValidationProblems()
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesAuthProblems();

    private static async Task<Results<Accepted<IngestOut>, ProblemHttpResult>> Handle(
        HttpContext http, WebhooksDbContext db, SchemaRegistry schemas, ISchedulerFactory schedulers, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!(http.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            return Problems.Problem(StatusCodes.Status415UnsupportedMediaType, Problems.UnsupportedMediaTypeType, "Unsupported media type.", "Send the events as application/json.");
        }

        using var reader = new StreamReader(http.Request.Body);
        var text = await reader.ReadToEndAsync(cancellationToken);
        JToken document;
        try
        {
            document = SchemaRegistry.Parse(text);
        }
        catch (JsonReaderException e)
        {
            return Problems.Problem(StatusCodes.Status400BadRequest, Problems.MalformedRequestType, "The request body is not valid JSON.",
                $"Invalid JSON (line {e.LineNumber}, position {e.LinePosition}): {e.Message.Split(" Path", 2)[0].TrimEnd('.')}.");
        }

        var errors = new ValidationErrors();
        var events = new List<(JObject Event, string Pointer)>();
        var schema = await schemas.ActivityEventAsync();
        switch (document)
        {
            case JObject single:
                SchemaRegistry.Validate(schema, single, single, errors);
                events.Add((single, string.Empty));
                break;
            case JArray { Count: 0 or > MaxEvents }:
                errors.Add("/", $"Send 1 to {MaxEvents} events.");
                break;
            case JArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is JObject item)
                    {
                        SchemaRegistry.Validate(schema, item, array, errors);
                        events.Add((item, $"/{i}"));
                    }
                    else
                    {
                        errors.Add($"/{i}", "An event is a JSON object.");
                    }
                }

                break;
            default:
                errors.Add("/", "Send an event object or an array of them.");
                break;
        }

        if (errors.Any)
        {
            return Problems.Validation(errors.ToDictionary(), "The events do not match schemas/activity-event.schema.json: see 'errors' (JSON pointers).");
        }

        var accountId = http.User.GetAccountId();
        var hook = await db.ActivityWebhooks.AsNoTracking().FirstOrDefaultAsync(w => w.AccountId == accountId, cancellationToken);
        var wanted = hook is { Enabled: true } ? ActivityWebhookRules.EventTypes(hook) : null;
        var now = time.GetUtcNow();
        var rows = new List<ActivityEvent>(events.Count);
        var seen = new HashSet<(string, string)>();
        foreach (var (item, _) in events)
        {
            var status = (string)item["activityStatus"]!;
            var iid = Text(item["iid"]);
            if (iid is not null && !seen.Add((iid, status)))
            {
                continue;
            }

            rows.Add(new ActivityEvent
            {
                Id = Ids.New(now),
                AccountId = accountId,
                ActivityStatus = status,
                ActivityAt = ParseTime((string)item["activityDateTime"]!),
                Iid = iid,
                ContactId = Text(item["contactId"]),
                Email = Text(item["email"])?.ToLowerInvariant(),
                MediaType = Text(item["mediaType"]),
                PayloadJson = item.ToString(Formatting.None),
                FeedStatus = wanted is not null && (wanted.Count == 0 || wanted.Contains(status)) ? FeedStatuses.Pending : FeedStatuses.NotSent,
                CreatedAt = now,
            });
        }

        // Events already accepted (a retried report) are skipped, not refused.
        var iids = rows.Where(r => r.Iid is not null).Select(r => r.Iid!).Distinct().ToList();
        if (iids.Count > 0)
        {
            var existing = new HashSet<(string, string)>();
            foreach (var chunk in iids.Chunk(500))
            {
                var found = await db.ActivityEvents.AsNoTracking().Where(e => e.AccountId == accountId && chunk.Contains(e.Iid!))
                    .Select(e => new { e.Iid, e.ActivityStatus }).ToListAsync(cancellationToken);
                existing.UnionWith(found.Select(f => (f.Iid!, f.ActivityStatus)));
            }

            rows.RemoveAll(r => r.Iid is not null && existing.Contains((r.Iid, r.ActivityStatus)));
        }

        db.ActivityEvents.AddRange(rows);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // A concurrent report carried some of the same events: keep the ones that are new.
            db.ChangeTracker.Clear();
            var kept = new List<ActivityEvent>(rows.Count);
            foreach (var row in rows)
            {
                db.ActivityEvents.Add(row);
                try
                {
                    await db.SaveChangesAsync(cancellationToken);
                    kept.Add(row);
                }
                catch (DbUpdateException)
                {
                    db.ChangeTracker.Clear();
                }
            }

            // The rows stored, not the first that many: which ones were duplicates decides how
            // many pending events there are for the batch-size check below.
            rows = kept;
        }

        if (hook is { Enabled: true } && rows.Count(r => r.FeedStatus == FeedStatuses.Pending) >= hook.BatchSize)
        {
            // A full batch waits: flush now rather than at the next scheduled run.
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            await scheduler.TriggerJob(ActivityFlushJob.Key, cancellationToken);
        }

        return TypedResults.Accepted((string?)null, new IngestOut(rows.Count, events.Count - rows.Count));
    }

    private static string? Text(JToken? token) => token?.Type switch
    {
        JTokenType.String => (string?)token,
        JTokenType.Integer or JTokenType.Float => token.ToString(Formatting.None),
        _ => null,
    };

    /// <summary>activityDateTime with an offset is converted to UTC; without one (as platforms send it) it is taken as UTC.</summary>
    private static DateTimeOffset ParseTime(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
