using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Activities;
using WebhooksApi.Jobs;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Activities;

[Collection(SqliteCollection.Name)]
public sealed class ActivityFeedTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private static object Event(int n, string status = "DELIVERED", string? email = null) => status switch
    {
        "CLICKED" => new { activityStatus = status, activityDateTime = $"2026-11-20T10:00:{n % 60:00}", email = email ?? $"c{n}@example.com", iid = $"iid-{n}", mediaType = "email", clickEventLink = "https://example.com/x" },
        _ => new { activityStatus = status, activityDateTime = $"2026-11-20T10:00:{n % 60:00}", email = email ?? $"c{n}@example.com", iid = $"iid-{n}", mediaType = "email" },
    };

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> IngestAsync(HttpClient client, object body) =>
        await (await client.PostJsonAsync("/v1/activities", body)).ReadJsonAsync(HttpStatusCode.Accepted);

    /// <summary>The receiver answers the verifying GET with 200 and batches as <paramref name="post"/> says.</summary>
    private string ActivityUrl(Func<HttpContext, Task>? post = null) => Fixture.Receiver.NewEndpoint(ctx =>
        HttpMethods.IsGet(ctx.Request.Method) || post is null ? ctx.Response.WriteAsync("ok") : post(ctx));

    private List<JsonElement> Batches(string url) =>
        [.. Fixture.Receiver.Received(url).Where(r => r.Method == "POST").Select(r => JsonDocument.Parse(r.BodyText).RootElement)];

    /// <summary>Runs the flush as its schedule would, one that sees the clock as the test set it.</summary>
    private Task FlushAsync()
    {
        var feed = Fixture.Factory.Services.GetRequiredService<ActivityFeed>();
        return QuartzJobs.RunAsync(Fixture.Factory.Services, ActivityFlushJob.Key, () => feed.Started, () => feed.Runs, "activity flush");
    }

    [Fact]
    public async Task Valid_events_are_accepted_and_schema_violations_are_400s_with_json_pointers()
    {
        var account = await NewAccountAsync();
        using var sender = Fixture.Client(await account.KeyWithScopesAsync("events:send"));
        Assert.Equal(1, (await IngestAsync(sender, Event(1))).GetProperty("accepted").GetInt32());

        var batch = new object[] { Event(2), Event(3), Event(4), new { activityStatus = "CLICKED", activityDateTime = "2026-11-20T10:00:00", email = "x@example.com" }, new { activityStatus = "BOUNCED", activityDateTime = "2026-11-20T10:00:00", email = "y@example.com" } };
        var problem = await (await sender.PostJsonAsync("/v1/activities", batch)).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        var pointers = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains(pointers, p => p.StartsWith("/3", StringComparison.Ordinal));
        Assert.Contains("/4/activityStatus", pointers);
        Assert.DoesNotContain(pointers, p => p.StartsWith("/0", StringComparison.Ordinal));

        var hardBounceOnRead = await (await sender.PostJsonAsync("/v1/activities", new { activityStatus = "READ", activityDateTime = "2026-11-20T10:00:00", email = "z@example.com", hardBounce = true }))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.NotEmpty(hardBounceOnRead.GetProperty("errors").EnumerateObject());

        var malformed = await (await sender.PostAsync(new Uri("/v1/activities", UriKind.Relative), Json("[{\"activityStatus\": \"READ\",\n \"email\": mediaType}]")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "malformed-request");
        Assert.Contains("line 2", malformed.Str("detail"), StringComparison.Ordinal);

        // Nothing of a refused request was stored.
        using var reader = Fixture.Client(await account.KeyWithScopesAsync("logs:read"));
        var pulled = await reader.GetJsonAsync("/v1/activities?from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z");
        Assert.Single(pulled.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task Ten_thousand_events_are_accepted_in_one_call_and_a_repeated_event_once()
    {
        var account = await NewAccountAsync();
        using var sender = Fixture.Client(await account.KeyWithScopesAsync("events:send"));
        // The call validates and stores 10,000 events in a Debug build beside every other test
        // collection: ~30 s in CI, past HttpClient's default 100 s with three CI runs at once.
        sender.Timeout = TimeSpan.FromMinutes(5);
        var events = Enumerable.Range(0, 10_000).Select(i => Event(i)).ToArray();
        Assert.Equal(10_000, (await IngestAsync(sender, events)).GetProperty("accepted").GetInt32());

        var again = await IngestAsync(sender, new[] { Event(5), Event(5, "UNDELIVERED") });
        Assert.Equal(1, again.GetProperty("accepted").GetInt32());
        Assert.Equal(1, again.GetProperty("duplicates").GetInt32());
        await (await sender.PostJsonAsync("/v1/activities", Enumerable.Range(0, 10_001).Select(i => Event(i)).ToArray())).AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_activity_url_with_template_braces_is_a_validation_problem_and_nothing_is_saved()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        // Activity URLs are not templates: the feed renders them like a connection's, and a
        // broken tag would leave it nothing to send. The URL rules refuse the braces at save.
        var url = ActivityUrl() + "/{{#each}}";

        var problem = await (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("url", out _), problem.GetRawText());
        await (await admin.GetAsync(new Uri("/v1/activity-webhook", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Saving_the_activity_url_verifies_it_with_a_get()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var refusing = Fixture.Receiver.NewEndpoint(ctx => { ctx.Response.StatusCode = 404; return ctx.Response.WriteAsync("no such hook"); });
        var problem = await (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url = refusing })).AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "verification-failed");
        Assert.Equal(404, problem.GetProperty("statusCode").GetInt32());
        Assert.Equal("no such hook", problem.Str("responseBody"));
        await (await admin.GetAsync(new Uri("/v1/activity-webhook", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);

        var url = ActivityUrl();
        var saved = await (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url, batchSize = 10 })).ReadJsonAsync();
        Assert.StartsWith("whsec_", saved.Str("signingSecret"), StringComparison.Ordinal);
        var verify = Assert.Single(Fixture.Receiver.Received(url));
        Assert.Equal("GET", verify.Method);
        Assert.NotNull(verify.Header("webhook-signature"));
        var read = await admin.GetJsonAsync("/v1/activity-webhook");
        Assert.Equal(10, read.GetProperty("batchSize").GetInt32());
        Assert.Equal(JsonValueKind.Null, read.GetProperty("signingSecret").ValueKind);
    }

    [Fact]
    public async Task Events_go_out_in_order_in_batches_by_count_and_by_age()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var url = ActivityUrl();
        (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url, batchSize = 3, maxBatchAgeSeconds = 60 })).EnsureSuccessStatusCode();

        await IngestAsync(admin, Enumerable.Range(1, 7).Select(i => Event(i)).ToArray());
        await Eventually.WaitAsync(() => Batches(url).Count >= 2, "two full batches");
        await FlushAsync();
        Assert.Equal(2, Batches(url).Count);

        Fixture.Time.Advance(TimeSpan.FromSeconds(61));
        await FlushAsync();
        var batches = Batches(url);
        Assert.Equal([3, 3, 1], batches.Select(b => b.GetArrayLength()));
        Assert.Equal(Enumerable.Range(1, 7).Select(i => $"iid-{i}"), batches.SelectMany(b => b.EnumerateArray()).Select(e => e.Str("iid")));
    }

    [Fact]
    public async Task A_failing_batch_is_retried_head_of_line_and_later_batches_wait()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var failures = 2;
        var url = ActivityUrl(ctx =>
        {
            ctx.Response.StatusCode = Interlocked.Decrement(ref failures) >= 0 ? 503 : 200;
            return Task.CompletedTask;
        });
        (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url, batchSize = 2, maxBatchAgeSeconds = 3600 })).EnsureSuccessStatusCode();

        await IngestAsync(admin, Enumerable.Range(1, 6).Select(i => Event(i)).ToArray());
        await Eventually.WaitAsync(() => Batches(url).Count >= 1, "first attempt");
        await FlushAsync();
        Assert.Single(Batches(url));

        Fixture.Time.Advance(TimeSpan.FromMinutes(1));
        await FlushAsync();
        Assert.Equal(2, Batches(url).Count);

        Fixture.Time.Advance(TimeSpan.FromMinutes(2));
        await FlushAsync();
        var batches = Batches(url);
        Assert.Equal(5, batches.Count);
        var sent = batches.Select(b => string.Join(',', b.EnumerateArray().Select(e => e.Str("iid")))).ToList();
        Assert.Equal(["iid-1,iid-2", "iid-1,iid-2", "iid-1,iid-2", "iid-3,iid-4", "iid-5,iid-6"], sent);

        // Every batch attempt is in the log like any attempt, under the activity webhook's id.
        var hookId = (await admin.GetJsonAsync("/v1/activity-webhook")).Id();
        var logged = await admin.GetJsonAsync($"/v1/logs?connectionId={hookId}");
        Assert.Equal(["ok", "ok", "ok", "http_error", "http_error"], logged.GetProperty("items").EnumerateArray().Select(e => e.Str("outcome")));
    }

    [Fact]
    public async Task Only_the_chosen_event_types_are_sent_and_the_pull_api_shows_each_events_state()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var url = ActivityUrl();
        (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url, batchSize = 1, eventTypes = new[] { "CLICKED" } })).EnsureSuccessStatusCode();

        await IngestAsync(admin, new[] { Event(1, "DELIVERED"), Event(2, "CLICKED", "ana@example.com"), Event(3, "READ") });
        await Eventually.WaitAsync(() => Batches(url).Count >= 1, "the clicked event");
        await FlushAsync();
        Assert.Equal(["CLICKED"], Batches(url).SelectMany(b => b.EnumerateArray()).Select(e => e.Str("activityStatus")));

        var all = await admin.GetJsonAsync("/v1/activities?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z");
        var states = all.GetProperty("items").EnumerateArray().ToDictionary(e => e.Str("activityStatus"), e => e.Str("feedStatus"));
        Assert.Equal("delivered", states["CLICKED"]);
        Assert.Equal("not_sent", states["DELIVERED"]);

        var clicked = await admin.GetJsonAsync("/v1/activities?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&activityStatus=CLICKED&email=ANA@example.com");
        Assert.Single(clicked.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task The_pull_api_needs_a_window_of_at_most_three_months_and_pages_oldest_first()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        await (await admin.GetAsync(new Uri("/v1/activities?to=2026-11-21T00:00:00Z", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        var tooWide = await (await admin.GetAsync(new Uri("/v1/activities?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(tooWide.GetProperty("errors").TryGetProperty("to", out _));

        await IngestAsync(admin, Enumerable.Range(1, 5).Select(i => Event(i)).ToArray());
        var first = await admin.GetJsonAsync("/v1/activities?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&limit=3");
        var second = await admin.GetJsonAsync($"/v1/activities?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z&limit=3&cursor={first.Str("nextCursor")}");
        var iids = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(e => e.Str("iid"));
        Assert.Equal(["iid-1", "iid-2", "iid-3", "iid-4", "iid-5"], iids);

        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        Assert.Empty((await otherAdmin.GetJsonAsync("/v1/activities?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z")).GetProperty("items").EnumerateArray());
    }
}
