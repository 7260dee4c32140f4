using System.Net;
using System.Text.Json;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Stats;

public abstract class StatsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>
    /// One connection (one retry, 20 s after the first attempt) with two steps, hand-counted:
    ///   T        step 1: ok-1, ok-2, ok-1 again, an email-only contact (all 200),
    ///                    bad-1, bad-2 (500, retried once at T+~20 s, then failed);
    ///            step 2: ok-9 (200)
    ///   T+91.5m  connection disabled: step 1's s-1, s-2 are skipped;
    ///            activated again: bad-3 fails its first attempt (pending, retry due);
    ///            connection edited (back to untested): bad-3 is held, and h-1, h-2 are held.
    /// Step 1: 11 deliveries, accepted 4, failed 2, skipped 2, pending 3 (all held), 9 attempts,
    /// 3 unique contacts (ok-1, ok-2, the email). The connection adds ok-9.
    /// </summary>
    private sealed record Scenario(WorkflowStep Step1, WorkflowStep Step2, DateTimeOffset T);

    private async Task<Scenario> ScenarioAsync()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var step1 = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "exponential", maxAttempts = 1 }));
        var step2 = await step1.AddStepAsync();
        var t = Fixture.Time.GetUtcNow();

        var first = await step1.ExecuteAndSettleAsync(
            new { id = "ok-1", email = "ok1@example.com" }, new { id = "ok-2" }, new { id = "ok-1", email = "ok1@example.com" },
            new { email = "Only@Example.com" }, new { id = "bad-1" }, new { id = "bad-2" });
        await step2.ExecuteAndSettleAsync(new { id = "ok-9" });
        Fixture.AdvanceAndWake(TimeSpan.FromSeconds(30));
        foreach (var bad in first.TakeLast(2))
        {
            Assert.Equal("failed", (await step1.AttemptedAsync(bad, 2)).Str("status"));
        }

        // Less than the two hours after which the health check would put the connection in error.
        Fixture.AdvanceAndWake(TimeSpan.FromMinutes(91));
        (await step1.Admin.ActionAsync(step1.ConnectionId, "disable")).EnsureSuccessStatusCode();
        await step1.ExecuteAndSettleAsync(new { id = "s-1" }, new { id = "s-2" });
        (await step1.Admin.ActionAsync(step1.ConnectionId, "activate")).EnsureSuccessStatusCode();
        var bad3 = (await step1.ExecuteAndSettleAsync(new { id = "bad-3" }))[0];
        Assert.Equal("pending", (await step1.DeliveryAsync(bad3)).Str("status"));
        (await step1.Admin.PatchAsync(new Uri($"/v1/connections/{step1.ConnectionId}", UriKind.Relative),
            new StringContent("{\"headers\": {\"X-Version\": \"2\"}}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        await step1.ExecuteAndSettleAsync(new { id = "h-1" }, new { id = "h-2" });
        Assert.Equal("held", (await step1.DeliveryAsync(bad3)).Str("status"));
        return new Scenario(step1, step2, t);
    }

    private static void AssertCounts(JsonElement stats, int deliveries, int accepted, int pending, int failed, int skipped, int attempts, int uniqueContacts)
    {
        Assert.Equal(deliveries, stats.GetProperty("deliveries").GetInt32());
        Assert.Equal(accepted, stats.GetProperty("accepted").GetInt32());
        Assert.Equal(pending, stats.GetProperty("pending").GetInt32());
        Assert.Equal(failed, stats.GetProperty("failed").GetInt32());
        Assert.Equal(skipped, stats.GetProperty("skipped").GetInt32());
        Assert.Equal(attempts, stats.GetProperty("attempts").GetInt32());
        Assert.Equal(uniqueContacts, stats.GetProperty("uniqueContacts").GetInt32());
        var series = stats.GetProperty("series").EnumerateArray().ToList();
        foreach (var name in (string[])["deliveries", "accepted", "pending", "failed", "skipped", "attempts"])
        {
            Assert.Equal(stats.GetProperty(name).GetInt32(), series.Sum(p => p.GetProperty(name).GetInt32()));
        }
    }

    [SkippableFact]
    public async Task Stats_match_a_hand_counted_scenario_with_skipped_and_held_deliveries()
    {
        var s = await ScenarioAsync();
        var admin = s.Step1.Admin;

        var step = await admin.GetJsonAsync($"/v1/workflow-webhooks/{s.Step1.StepId}/stats");
        AssertCounts(step, deliveries: 11, accepted: 4, pending: 3, failed: 2, skipped: 2, attempts: 9, uniqueContacts: 3);
        Assert.Equal(0.6667, step.GetProperty("successRate").GetDouble());
        Assert.Equal(9, step.GetProperty("latency").GetProperty("samples").GetInt32());
        var latency = step.GetProperty("latency");
        Assert.True(latency.GetProperty("p50").GetInt32() <= latency.GetProperty("p95").GetInt32());
        Assert.True(latency.GetProperty("p95").GetInt32() <= latency.GetProperty("p99").GetInt32());
        Assert.Equal("hour", step.Str("bucket"));
        Assert.Equal(TimeSpan.FromHours(24), step.GetProperty("to").GetDateTimeOffset() - step.GetProperty("from").GetDateTimeOffset());
        Assert.InRange(step.GetProperty("to").GetDateTimeOffset() - Fixture.Time.GetUtcNow(), TimeSpan.Zero, TimeSpan.FromMilliseconds(1));

        var connection = await admin.GetJsonAsync($"/v1/connections/{s.Step1.ConnectionId}/stats");
        AssertCounts(connection, deliveries: 12, accepted: 5, pending: 3, failed: 2, skipped: 2, attempts: 10, uniqueContacts: 4);
        Assert.Equal(0.7143, connection.GetProperty("successRate").GetDouble());

        var other = await admin.GetJsonAsync($"/v1/workflow-webhooks/{s.Step2.StepId}/stats");
        AssertCounts(other, deliveries: 1, accepted: 1, pending: 0, failed: 0, skipped: 0, attempts: 1, uniqueContacts: 1);
        Assert.Equal(1.0, other.GetProperty("successRate").GetDouble());
    }

    [SkippableFact]
    public async Task Counts_agree_with_the_deliveries_table()
    {
        var s = await ScenarioAsync();
        var admin = s.Step1.Admin;
        var deliveries = await admin.AllPagesAsync($"/v1/deliveries?connectionId={s.Step1.ConnectionId}");
        var byStatus = deliveries.GroupBy(d => d.Str("status")).ToDictionary(g => g.Key, g => g.Count());
        int Of(params string[] statuses) => statuses.Sum(st => byStatus.GetValueOrDefault(st));

        var stats = await admin.GetJsonAsync($"/v1/connections/{s.Step1.ConnectionId}/stats");
        Assert.Equal(deliveries.Count, stats.GetProperty("deliveries").GetInt32());
        Assert.Equal(Of("succeeded"), stats.GetProperty("accepted").GetInt32());
        Assert.Equal(Of("pending", "delivering", "held"), stats.GetProperty("pending").GetInt32());
        Assert.Equal(Of("failed"), stats.GetProperty("failed").GetInt32());
        Assert.Equal(Of("skipped"), stats.GetProperty("skipped").GetInt32());
        Assert.Equal(3, Of("held"));
        Assert.Equal(deliveries.Sum(d => d.GetProperty("attempts").GetInt32()), stats.GetProperty("attempts").GetInt32());
        var logged = await admin.AllPagesAsync($"/v1/logs?connectionId={s.Step1.ConnectionId}&test=false");
        Assert.Equal(logged.Count, stats.GetProperty("attempts").GetInt32());
    }

    [SkippableFact]
    public async Task A_range_counts_only_the_deliveries_accepted_in_it_in_hour_or_day_buckets()
    {
        var s = await ScenarioAsync();
        var admin = s.Step1.Admin;
        var from = LogBuilders.Q(s.T.AddMinutes(-1));
        var to = LogBuilders.Q(s.T.AddMinutes(60));

        var hourly = await admin.GetJsonAsync($"/v1/workflow-webhooks/{s.Step1.StepId}/stats?from={from}&to={to}");
        AssertCounts(hourly, deliveries: 6, accepted: 4, pending: 0, failed: 2, skipped: 0, attempts: 8, uniqueContacts: 3);
        var points = hourly.GetProperty("series").EnumerateArray().ToList();
        Assert.InRange(points.Count, 2, 3);
        var starts = points.Select(p => p.GetProperty("start").GetDateTimeOffset()).ToList();
        Assert.All(starts, start => Assert.Equal(TimeSpan.Zero, start.TimeOfDay - TimeSpan.FromHours(start.TimeOfDay.Hours)));
        Assert.Equal(starts.Order(), starts);
        Assert.All(starts.Zip(starts.Skip(1)), pair => Assert.Equal(TimeSpan.FromHours(1), pair.Second - pair.First));
        Assert.True(starts[0] <= s.T.AddMinutes(-1) && starts[^1] < s.T.AddMinutes(60));

        var daily = await admin.GetJsonAsync($"/v1/workflow-webhooks/{s.Step1.StepId}/stats?from={from}&to={to}&bucket=day");
        AssertCounts(daily, deliveries: 6, accepted: 4, pending: 0, failed: 2, skipped: 0, attempts: 8, uniqueContacts: 3);
        Assert.All(daily.GetProperty("series").EnumerateArray(), p => Assert.Equal(TimeSpan.Zero, p.GetProperty("start").GetDateTimeOffset().TimeOfDay));

        var later = await admin.GetJsonAsync($"/v1/workflow-webhooks/{s.Step1.StepId}/stats?from={to}");
        AssertCounts(later, deliveries: 5, accepted: 0, pending: 3, failed: 0, skipped: 2, attempts: 1, uniqueContacts: 0);
        Assert.Equal(JsonValueKind.Null, later.GetProperty("successRate").ValueKind);

        var empty = await admin.GetJsonAsync($"/v1/connections/{s.Step1.ConnectionId}/stats?from={LogBuilders.Q(Fixture.Time.GetUtcNow().AddHours(1))}&to={LogBuilders.Q(Fixture.Time.GetUtcNow().AddHours(2))}");
        AssertCounts(empty, 0, 0, 0, 0, 0, 0, 0);
        Assert.Equal(JsonValueKind.Null, empty.GetProperty("latency").GetProperty("p50").ValueKind);
    }

    [SkippableTheory]
    [InlineData("bucket=week", "bucket")]
    [InlineData("bucket=1", "bucket")]
    [InlineData("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to")]
    [InlineData("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to")]
    [InlineData("from=soon", "from")]
    public async Task Bad_stats_parameters_are_a_400_naming_them(string query, string parameter)
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        foreach (var url in (string[])[$"/v1/connections/{step.ConnectionId}/stats", $"/v1/workflow-webhooks/{step.StepId}/stats"])
        {
            var problem = await (await step.Admin.GetAsync(new Uri($"{url}?{query}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.GetRawText());
        }
    }

    [SkippableFact]
    public async Task Another_accounts_connection_or_step_is_404()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        await (await otherAdmin.GetAsync(new Uri($"/v1/connections/{step.ConnectionId}/stats", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        await (await otherAdmin.GetAsync(new Uri($"/v1/workflow-webhooks/{step.StepId}/stats", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
    }
}

[Collection(SqliteCollection.Name)]
public sealed class StatsTests_Sqlite(SqliteApi fixture) : StatsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class StatsTests_Postgres(PostgresApi fixture) : StatsTests<PostgresApi>(fixture);
