using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Logs;

public abstract class LogsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>
    /// Eleven logged requests in one account, hand-counted:
    ///   T0       test sends of A (200), B (200) and C (refused: nothing listens on port 1);
    ///            step A1 on A: c-1 (Ana.One@Example.com) 200, s404 404, s500 500, s503 503
    ///   T0+10m   step A2 on A: c-1 200, s404 404
    ///   T0+20m   step B1 on B: c-1 200, a phone-only contact 200.
    /// A retries only after an hour, so nothing else is logged while a test runs.
    /// </summary>
    private sealed record Scenario(TestAccount Account, HttpClient Admin, string A, string A1, string A2, string B, string B1, string C, DateTimeOffset T0);

    private async Task<Scenario> ScenarioAsync()
    {
        var account = await NewAccountAsync();
        var urlA = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var a1 = await account.ActiveStepAsync(urlA, Builders.Connection(urlA).With("retryPolicy", new { kind = "exponential", maxAttempts = 1, initialDelaySeconds = 3600 }));
        var a2 = await a1.AddStepAsync();
        var b1 = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var c = (await a1.Admin.CreateConnectionAsync(Builders.Connection("http://127.0.0.1:1/closed"))).Id();
        Assert.Equal("connection_refused", (await a1.Admin.TestConnectionAsync(c)).Str("outcome"));
        var t0 = Fixture.Time.GetUtcNow();

        await a1.ExecuteAndSettleAsync(new { id = "c-1", email = "Ana.One@Example.com" }, new { id = "s404" }, new { id = "s500" }, new { id = "s503" });
        Fixture.Time.Advance(TimeSpan.FromMinutes(10));
        await a2.ExecuteAndSettleAsync(new { id = "c-1", email = "Ana.One@Example.com" }, new { id = "s404" });
        Fixture.Time.Advance(TimeSpan.FromMinutes(10));
        await b1.ExecuteAndSettleAsync(new { id = "c-1", email = "Ana.One@Example.com" }, new { phone = "+15550001" });
        return new Scenario(account, a1.Admin, a1.ConnectionId, a1.StepId, a2.StepId, b1.ConnectionId, b1.StepId, c, t0);
    }

    private static Task<List<JsonElement>> LogsAsync(Scenario s, string query = "") => s.Admin.AllPagesAsync("/v1/logs" + (query.Length > 0 ? "?" + query : string.Empty));

    [SkippableFact]
    public async Task Each_filter_selects_exactly_its_rows()
    {
        var s = await ScenarioAsync();
        var all = await LogsAsync(s);
        Assert.Equal(11, all.Count);

        Assert.Equal(7, (await LogsAsync(s, $"connectionId={s.A}")).Count);
        Assert.All(await LogsAsync(s, $"connectionId={s.B}"), l => Assert.Equal(s.B, l.Str("connectionId")));
        Assert.Single(await LogsAsync(s, $"connectionId={s.C}"));
        Assert.Equal(4, (await LogsAsync(s, $"workflowWebhookId={s.A1}")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"workflowWebhookId={s.A2}")).Count);

        var notFound = await LogsAsync(s, "statusCode=404");
        Assert.Equal(2, notFound.Count);
        Assert.All(notFound, l => Assert.Equal(404, l.GetProperty("statusCode").GetInt32()));
        Assert.Equal(2, (await LogsAsync(s, "statusCode=4xx")).Count);
        Assert.Equal(["s500", "s503"], (await LogsAsync(s, "statusCode=5XX")).Select(l => l.Str("contactId")).Order());
        Assert.Single(await LogsAsync(s, "statusCode=503"));
        Assert.Equal(6, (await LogsAsync(s, "statusCode=2xx")).Count);

        Assert.Equal(6, (await LogsAsync(s, "outcome=ok")).Count);
        Assert.Equal(4, (await LogsAsync(s, "outcome=http_error")).Count);
        var refused = Assert.Single(await LogsAsync(s, "outcome=connection_refused"));
        Assert.Equal(JsonValueKind.Null, refused.GetProperty("statusCode").ValueKind);

        Assert.Equal(3, (await LogsAsync(s, "contactId=c-1")).Count);
        Assert.Equal(2, (await LogsAsync(s, "contactId=s404")).Count);
        Assert.Empty(await LogsAsync(s, "contactId=C-1"));
        var byEmail = await LogsAsync(s, "email=" + Uri.EscapeDataString("ANA.ONE@example.COM"));
        Assert.Equal(3, byEmail.Count);
        Assert.All(byEmail, l => Assert.Equal("ana.one@example.com", l.Str("email")));

        Assert.Equal(3, (await LogsAsync(s, "identifier=" + Uri.EscapeDataString("Ana.One@Example.com"))).Count);
        Assert.Equal("+15550001", Assert.Single(await LogsAsync(s, "identifier=" + Uri.EscapeDataString("+15550001"))).Str("phone"));
        Assert.Single(await LogsAsync(s, "identifier=s500"));

        var tests = await LogsAsync(s, "test=true");
        Assert.Equal(3, tests.Count);
        Assert.All(tests, l => Assert.Equal(JsonValueKind.Null, l.GetProperty("deliveryId").ValueKind));
        Assert.Equal(8, (await LogsAsync(s, "test=false")).Count);
    }

    [SkippableFact]
    public async Task Contact_filters_find_every_attempt_of_the_contacts_deliveries_and_its_test_sends()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var step = await account.ActiveStepAsync(url, RetriedOnce(url));
        var other = await (await NewAccountAsync()).ActiveStepAsync(url);
        await ContactFiltersFindAsync(step, other, () => Fixture.AdvanceAndWake(TimeSpan.FromMinutes(10)));
    }

    [SkippableFact]
    public async Task Contact_filters_find_the_same_rows_when_they_walk_the_log()
    {
        // A contact with more deliveries than Logs:ContactSortLimit is found by walking the
        // account's log newest first; at 0 every contact is.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Logs:ContactSortLimit", "0"));
        var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var step = await node.ActiveStepAsync(url, RetriedOnce(url));
        var other = await node.SecondAccountStepAsync(url);
        await ContactFiltersFindAsync(step, other, () =>
        {
            Fixture.Time.Advance(TimeSpan.FromMinutes(10));
            node.Factory.Services.GetRequiredService<WebhooksApi.Delivery.DeliverySignals>().WorkAvailable();
        });
    }

    private static Dictionary<string, object?> RetriedOnce(string url) =>
        Builders.Connection(url).With("retryPolicy", new { kind = "exponential", maxAttempts = 1, initialDelaySeconds = 60 });

    /// <summary>
    /// The attempts have no index by contact: the filters go through the deliveries (their
    /// retries included) and, for test sends, through the test sends themselves. A delivery
    /// retried once, a test send to the same contact, and the same contacts in another account.
    /// </summary>
    private static async Task ContactFiltersFindAsync(WorkflowStep step, WorkflowStep other, Action advanceToRetry)
    {
        var ids = await step.ExecuteAndSettleAsync(new { id = "bad-1", email = "Bad.One@Example.com" }, new { id = "c-2" });
        advanceToRetry();
        var retried = await step.AttemptedAsync(ids[0], attempts: 2);
        Assert.Equal("failed", retried.Str("status"));
        Assert.Equal("http_error", (await step.Admin.TestConnectionAsync(step.ConnectionId, new { contact = new { id = "bad-1", email = "Bad.One@Example.com" } })).Str("outcome"));
        await other.ExecuteAndSettleAsync(new { id = "bad-1", email = "Bad.One@Example.com" }, new { id = "c-2" });

        Task<List<JsonElement>> Logs(string query, int limit = 500) => step.Admin.AllPagesAsync("/v1/logs?" + query, limit);
        foreach (var filter in new[] { "contactId=bad-1", "email=" + Uri.EscapeDataString("BAD.ONE@example.com"), "identifier=" + Uri.EscapeDataString("Bad.One@Example.com") })
        {
            var found = await Logs(filter);
            Assert.Equal(3, found.Count);
            Assert.All(found, l => Assert.Equal("bad-1", l.Str("contactId")));
            // Newest first: the test send, the retry and the first attempt, one page each.
            Assert.Equal(found.Select(l => l.Str("id")), (await Logs(filter, limit: 1)).Select(l => l.Str("id")));
        }

        var sent = await Logs("contactId=bad-1&test=false");
        Assert.Equal([2, 1], sent.Select(l => l.GetProperty("attempt").GetInt32()));
        Assert.All(sent, l => Assert.Equal(ids[0], l.Str("deliveryId")));
        var test = Assert.Single(await Logs("email=bad.one%40example.com&test=true"));
        Assert.Equal(JsonValueKind.Null, test.GetProperty("deliveryId").ValueKind);
        Assert.Equal(3, (await Logs("contactId=bad-1&statusCode=5xx", limit: 2)).Count);
        Assert.Equal(2, (await Logs($"contactId=bad-1&statusCode=500&connectionId={step.ConnectionId}&workflowWebhookId={step.StepId}")).Count);
        Assert.Empty(await Logs("contactId=bad-1&statusCode=2xx"));
        Assert.Equal(ids[1], Assert.Single(await Logs("identifier=c-2")).Str("deliveryId"));
        Assert.Single(await other.Admin.AllPagesAsync("/v1/logs?identifier=c-2"));
        Assert.Single(await other.Admin.AllPagesAsync("/v1/logs?contactId=bad-1"));

        // A contact id that is an address is its contact's identifier, not an email: the two newer
        // rows (a whole page and the row that says there is more) match the email filter's index
        // probe and are then left out; the page is read again.
        await step.ExecuteAndSettleAsync(new { id = "c-9", email = "X@example.com" });
        await step.ExecuteAndSettleAsync(new { id = "x@example.com" }, new { id = "x@example.com" });
        Assert.Equal("c-9", Assert.Single(await Logs("email=x%40example.com", limit: 1)).Str("contactId"));
        Assert.Equal(["x@example.com", "x@example.com", "c-9"], (await Logs("identifier=x%40example.com", limit: 1)).Select(l => l.Str("contactId")));
    }

    [SkippableFact]
    public async Task A_date_range_is_from_inclusive_to_exclusive()
    {
        var s = await ScenarioAsync();

        var middle = await LogsAsync(s, $"from={LogBuilders.Q(s.T0.AddMinutes(5))}&to={LogBuilders.Q(s.T0.AddMinutes(15))}");
        Assert.Equal(2, middle.Count);
        Assert.All(middle, l => Assert.Equal(s.A2, l.Str("workflowWebhookId")));

        // The stored time of those rows, as the API shows it: `from` includes it, `to` excludes it.
        var t1 = middle[0].GetProperty("time").GetDateTimeOffset();
        Assert.Equal(4, (await LogsAsync(s, $"from={LogBuilders.Q(t1)}")).Count);
        Assert.Equal(7, (await LogsAsync(s, $"to={LogBuilders.Q(t1)}")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"from={LogBuilders.Q(s.T0.AddMinutes(15))}")).Count);
        Assert.Empty(await LogsAsync(s, $"from={LogBuilders.Q(s.T0.AddMinutes(25))}"));
        // The same instant written with another offset selects the same rows.
        Assert.Equal(4, (await LogsAsync(s, $"from={LogBuilders.Q(s.T0.AddMinutes(5).ToOffset(TimeSpan.FromHours(2)))}")).Count);
    }

    [SkippableFact]
    public async Task To_excludes_rows_at_or_after_it_even_inside_one_millisecond()
    {
        var s = await ScenarioAsync();
        var all = await LogsAsync(s);
        var t1 = (await LogsAsync(s, $"workflowWebhookId={s.A2}"))[0].GetProperty("time").GetDateTimeOffset();

        // Rows on both sides: the 7 at T0 are before t1, the 2 at t1 and the 2 at T0+20m are not.
        var before = await LogsAsync(s, $"to={LogBuilders.Q(t1)}");
        Assert.Equal(7, before.Count);
        Assert.All(before, l => Assert.True(l.GetProperty("time").GetDateTimeOffset() < t1));
        // One microsecond later is (unless t1 ends its millisecond) still t1's millisecond: the id
        // bound must not cut there.
        Assert.Equal(9, (await LogsAsync(s, $"to={LogBuilders.Q(t1.AddTicks(10))}")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"from={LogBuilders.Q(t1)}&to={LogBuilders.Q(t1.AddTicks(10))}")).Count);
        Assert.Empty(await LogsAsync(s, $"to={LogBuilders.Q(s.T0)}"));

        // A cursor walk under `to`, two rows a page, is the unbounded list's tail, in order.
        var walked = await s.Admin.AllPagesAsync($"/v1/logs?to={LogBuilders.Q(t1)}", limit: 2);
        Assert.Equal(all.Skip(4).Select(l => l.Id()), walked.Select(l => l.Id()));
    }

    [SkippableFact]
    public async Task To_keeps_rows_logged_after_ids_were_made_for_a_later_time()
    {
        // Ids for a later instant (a clock that later steps back does this; so does another test
        // fixture's clock in this process) once pushed every following id past that instant, and
        // a `to` bound on ids then dropped rows whose created_at was inside the range.
        WebhooksApi.Persistence.Ids.New(Fixture.Time.GetUtcNow().AddDays(3));
        var s = await ScenarioAsync();
        var t2 = s.T0.AddMinutes(20);

        Assert.Equal(9, (await LogsAsync(s, $"to={LogBuilders.Q(t2)}")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"from={LogBuilders.Q(s.T0.AddMinutes(5))}&to={LogBuilders.Q(s.T0.AddMinutes(15))}")).Count);
    }

    [SkippableFact]
    public async Task A_status_class_lists_every_code_of_the_class_newest_first_across_pages()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "exponential", maxAttempts = 1, initialDelaySeconds = 3600 }));
        var t0 = Fixture.Time.GetUtcNow();
        // 4xx, hand-counted: 404 x3, 429 x2, 422, 401 = 7 rows (not 410: it disables the connection) over three minutes, between 200s and 5xx.
        await step.ExecuteAndSettleAsync(new { id = "s404" }, new { id = "s429" }, new { id = "ok-1" }, new { id = "s500" });
        Fixture.Time.Advance(TimeSpan.FromMinutes(1));
        await step.ExecuteAndSettleAsync(new { id = "s422" }, new { id = "s404" }, new { id = "ok-2" });
        Fixture.Time.Advance(TimeSpan.FromMinutes(1));
        await step.ExecuteAndSettleAsync(new { id = "s429" }, new { id = "s401" }, new { id = "s503" }, new { id = "s404" });
        using var admin = account.Admin();

        // The activation's test send (a 200) is in the log too; the executions are the rest.
        var all = await admin.AllPagesAsync("/v1/logs");
        Assert.Equal(12, all.Count);
        var expected = all.Where(l => l.GetProperty("statusCode").GetInt32() is >= 400 and < 500).Select(l => l.Id()).ToList();
        Assert.Equal(7, expected.Count);

        var classPage = await admin.AllPagesAsync("/v1/logs?statusCode=4xx");
        Assert.Equal(expected, classPage.Select(l => l.Id()));
        Assert.Equal(["s401", "s404", "s404", "s404", "s422", "s429", "s429"], classPage.Select(l => l.Str("contactId")).Order());

        // One, two, three a page: each code's rows interleaved by time, none repeated or skipped.
        foreach (var limit in (int[])[1, 2, 3])
        {
            Assert.Equal(expected, (await admin.AllPagesAsync("/v1/logs?statusCode=4XX", limit)).Select(l => l.Id()));
        }

        Assert.Equal(["s500", "s503"], (await admin.AllPagesAsync("/v1/logs?statusCode=5xx", 1)).Select(l => l.Str("contactId")).Order());
        Assert.Equal(["ok-1", "ok-2"], (await admin.AllPagesAsync("/v1/logs?statusCode=2xx&test=false", 1)).Select(l => l.Str("contactId")).Order());
        Assert.Empty(await admin.AllPagesAsync("/v1/logs?statusCode=1xx"));
        Assert.Empty(await admin.AllPagesAsync("/v1/logs?statusCode=3xx"));

        // With a date range: the first minute's 404 and 429 are out, the last minute's three stay with the middle two.
        var laterOnes = await admin.AllPagesAsync($"/v1/logs?statusCode=4xx&from={LogBuilders.Q(t0.AddSeconds(30))}", 2);
        Assert.Equal(expected.Take(5), laterOnes.Select(l => l.Id()));
        var middle = await admin.AllPagesAsync($"/v1/logs?statusCode=4xx&from={LogBuilders.Q(t0.AddSeconds(30))}&to={LogBuilders.Q(t0.AddSeconds(90))}", 1);
        Assert.Equal(["s404", "s422"], middle.Select(l => l.Str("contactId")).Order());
        // And with another filter: only one contact's rows of the class.
        Assert.Equal(3, (await admin.AllPagesAsync("/v1/logs?statusCode=4xx&contactId=s404", 1)).Count);
    }

    [SkippableFact]
    public async Task Filters_combine()
    {
        var s = await ScenarioAsync();
        var t1 = LogBuilders.Q(s.T0.AddMinutes(5));

        Assert.Equal(2, (await LogsAsync(s, $"connectionId={s.A}&statusCode=4xx")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"connectionId={s.A}&test=false&outcome=ok")).Count);
        Assert.Equal(2, (await LogsAsync(s, $"workflowWebhookId={s.A1}&statusCode=5xx")).Count);
        Assert.Equal(s.B1, Assert.Single(await LogsAsync(s, $"contactId=c-1&connectionId={s.B}")).Str("workflowWebhookId"));
        Assert.Equal(2, (await LogsAsync(s, $"email=ana.one@example.com&from={t1}")).Count);
        Assert.Single(await LogsAsync(s, $"identifier=s404&workflowWebhookId={s.A2}"));
        Assert.Single(await LogsAsync(s, $"statusCode=404&to={t1}"));
        Assert.Single(await LogsAsync(s, "outcome=connection_refused&test=true"));
        Assert.Empty(await LogsAsync(s, "outcome=connection_refused&test=false"));
        Assert.Empty(await LogsAsync(s, $"connectionId={s.B}&statusCode=5xx"));
        Assert.Single(await LogsAsync(s, $"connectionId={s.A}&workflowWebhookId={s.A1}&contactId=c-1&email=ana.one@example.com&statusCode=200&outcome=ok&test=false&to={t1}"));
    }

    [SkippableTheory]
    [InlineData("statusCode=abc", "statusCode")]
    [InlineData("statusCode=6xx", "statusCode")]
    [InlineData("statusCode=99", "statusCode")]
    [InlineData("statusCode=4x", "statusCode")]
    [InlineData("outcome=fine", "outcome")]
    [InlineData("connectionId=not-an-id", "connectionId")]
    [InlineData("workflowWebhookId=42", "workflowWebhookId")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2026-13-01", "to")]
    [InlineData("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to")]
    [InlineData("test=maybe", "test")]
    [InlineData("email=", "email")]
    [InlineData("limit=0", "limit")]
    [InlineData("cursor=nope", "cursor")]
    public async Task A_bad_filter_value_is_a_400_naming_the_parameter(string query, string parameter)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var problem = await (await admin.GetAsync(new Uri("/v1/logs?" + query, UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.GetRawText());
    }

    [SkippableFact]
    public async Task List_items_carry_no_headers_or_bodies_and_the_entry_by_id_has_the_whole_exchange()
    {
        var s = await ScenarioAsync();
        var item = Assert.Single(await LogsAsync(s, $"workflowWebhookId={s.A1}&statusCode=404"));
        foreach (var absent in (string[])["request", "response", "headers", "body", "requestBody", "responseBody"])
        {
            Assert.False(item.TryGetProperty(absent, out _), $"list item has '{absent}': {item.GetRawText()}");
        }

        Assert.Equal("POST", item.Str("method"));
        Assert.Equal(1, item.GetProperty("attempt").GetInt32());
        Assert.False(item.GetProperty("test").GetBoolean());
        Assert.Equal("http_error", item.Str("outcome"));

        var entry = await s.Admin.GetJsonAsync($"/v1/logs/{item.Id()}");
        Assert.Equal(item.Str("deliveryId"), entry.Str("deliveryId"));
        var request = entry.GetProperty("request");
        Assert.Contains("\"s404\"", request.Str("body"), StringComparison.Ordinal);
        Assert.StartsWith("v1,", request.GetProperty("headers").GetProperty("webhook-signature").GetString(), StringComparison.Ordinal);
        Assert.Equal(404, entry.GetProperty("response").GetProperty("statusCode").GetInt32());

        var ok = Assert.Single(await LogsAsync(s, $"workflowWebhookId={s.A1}&statusCode=200"));
        var okEntry = await s.Admin.GetJsonAsync($"/v1/logs/{ok.Id()}");
        Assert.Equal("{\"received\":true}", okEntry.GetProperty("response").Str("body"));
        Assert.True(okEntry.GetProperty("response").GetProperty("headers").EnumerateObject().Any());

        var refused = Assert.Single(await LogsAsync(s, "outcome=connection_refused"));
        var refusedEntry = await s.Admin.GetJsonAsync($"/v1/logs/{refused.Id()}");
        Assert.True(refusedEntry.GetProperty("test").GetBoolean());
        Assert.Equal(JsonValueKind.Null, refusedEntry.GetProperty("response").ValueKind);
        Assert.False(string.IsNullOrEmpty(refusedEntry.Str("error")));

        await (await s.Admin.GetAsync(new Uri("/v1/logs/not-an-id", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        await (await s.Admin.GetAsync(new Uri($"/v1/logs/{Guid.CreateVersion7()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [SkippableFact]
    public async Task Pages_are_newest_first_and_stable_while_new_rows_arrive()
    {
        var s = await ScenarioAsync();
        var all = (await LogsAsync(s)).Select(l => l.Id()).ToList();
        var times = (await LogsAsync(s)).Select(l => l.GetProperty("time").GetDateTimeOffset()).ToList();
        Assert.Equal(times.OrderByDescending(t => t), times);
        Assert.Equal(all.OrderByDescending(id => id, StringComparer.Ordinal), all);

        var first = await s.Admin.GetJsonAsync("/v1/logs?limit=4");
        var seen = first.GetProperty("items").EnumerateArray().Select(i => i.Id()).ToList();
        var cursor = first.Str("nextCursor");

        // New requests are logged between pages: they belong before page one, never in later pages.
        var step = new WorkflowStep(s.Admin, s.B, s.B1, string.Empty);
        await step.ExecuteAndSettleAsync(new { id = "late-1" }, new { id = "late-2" });
        while (cursor is not null)
        {
            var page = await s.Admin.GetJsonAsync($"/v1/logs?limit=4&cursor={cursor}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.Id()));
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.Null ? null : page.Str("nextCursor");
        }

        Assert.Equal(all, seen);
        var fresh = await s.Admin.GetJsonAsync("/v1/logs?limit=2");
        Assert.Equal(["late-1", "late-2"], fresh.GetProperty("items").EnumerateArray().Select(i => i.Str("contactId")).Order());
    }

    [SkippableFact]
    public async Task Auth_secrets_never_appear_in_the_list_or_in_an_entry()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        const string password = "Pa55-logs-basic-XYZ";
        const string token = "Tok3n-logs-bearer-XYZ";
        const string headerKey = "K3y-logs-header-XYZ";
        const string queryKey = "K3y-logs-query-XYZ";
        string[] secrets = [password, token, headerKey, queryKey, Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:" + password))];
        object[] connectors =
        [
            new { name = "basic", type = "basic", basic = new { username = "svc", password } },
            new { name = "bearer", type = "bearer", bearer = new { token } },
            new { name = "header", type = "api_key", apiKey = new { name = "X-Api-Key", value = headerKey, @in = "header" } },
            new { name = "query", type = "api_key", apiKey = new { name = "key", value = queryKey, @in = "query" } },
        ];
        var urls = new List<string>();
        foreach (var connector in connectors)
        {
            var connectorId = (await (await admin.PostJsonAsync("/v1/auth-connectors", connector)).ReadJsonAsync(HttpStatusCode.Created)).Id();
            var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
            urls.Add(url);
            var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("authConnectorId", connectorId));
            // One success and one failure each: the error path is logged too.
            await step.ExecuteAndSettleAsync(new { id = "ok-1", email = "a@example.com" }, new { id = "s401" });
        }

        // The credentials did reach the receivers, so their absence below means masking, not omission.
        var arrived = string.Join('\n', urls.SelectMany(u => Fixture.Receiver.Received(u)).Select(r => string.Join(' ', r.Headers.Values) + r.Query));
        Assert.All(secrets.Skip(1), secret => Assert.Contains(secret, arrived, StringComparison.Ordinal));

        var list = await admin.AllPagesAsync("/v1/logs");
        Assert.Equal(12, list.Count);
        var shown = new StringBuilder(string.Join('\n', list.Select(l => l.GetRawText())));
        foreach (var item in list)
        {
            shown.AppendLine((await (await admin.GetAsync(new Uri($"/v1/logs/{item.Id()}", UriKind.Relative))).ReadJsonAsync()).GetRawText());
        }

        var text = shown.ToString();
        Assert.All(secrets, secret => Assert.DoesNotContain(secret, text, StringComparison.Ordinal));
        Assert.Contains("****", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Another_accounts_logs_never_appear_and_their_ids_are_404()
    {
        var s = await ScenarioAsync();
        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        var otherStep = await other.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        await otherStep.ExecuteAndSettleAsync(new { id = "c-1", email = "ana.one@example.com" });

        var mine = (await LogsAsync(s)).Select(l => l.Id()).ToHashSet();
        var theirs = await otherAdmin.AllPagesAsync("/v1/logs");
        Assert.Equal(2, theirs.Count);
        Assert.DoesNotContain(theirs, l => mine.Contains(l.Id()));
        Assert.Empty(await otherAdmin.AllPagesAsync($"/v1/logs?connectionId={s.A}"));
        Assert.Single(await otherAdmin.AllPagesAsync("/v1/logs?email=ana.one@example.com"));
        await (await otherAdmin.GetAsync(new Uri($"/v1/logs/{mine.First()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [SkippableFact]
    public async Task Logs_need_the_logs_read_scope()
    {
        var account = await NewAccountAsync();
        using var reader = Fixture.Client(await account.KeyWithScopesAsync("logs:read"));
        using var sender = Fixture.Client(await account.KeyWithScopesAsync("events:send"));
        (await reader.GetAsync(new Uri("/v1/logs", UriKind.Relative))).EnsureSuccessStatusCode();
        await (await sender.GetAsync(new Uri("/v1/logs", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Forbidden);
        using var anonymous = Fixture.Client();
        await (await anonymous.GetAsync(new Uri("/v1/logs", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }
}

[Collection(SqliteCollection.Name)]
public sealed class LogsTests_Sqlite(SqliteApi fixture) : LogsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class LogsTests_Postgres(PostgresApi fixture) : LogsTests<PostgresApi>(fixture);
