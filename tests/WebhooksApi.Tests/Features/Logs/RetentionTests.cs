using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Quartz;
using WebhooksApi.Jobs;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Logs;

/// <summary>
/// The retention purge in fake time. Moving the clock four weeks ages every row in the fixture's
/// database, which is safe because tests in one collection run one after another.
/// </summary>
public abstract class RetentionTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>Fires the retention job through Quartz, as its schedule would, and waits for a run on the current clock.</summary>
    private async Task RunRetentionJobAsync()
    {
        var retention = Fixture.Factory.Services.GetRequiredService<LogRetention>();
        var now = Fixture.Time.GetUtcNow();
        var scheduler = await Fixture.Factory.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(LogRetentionJob.Key);
        await Eventually.WaitAsync(() => retention.LastRun?.RanAt >= now, "the retention job to run");
    }

    private async Task<int> IdempotencyRecordsAsync(TestAccount account)
    {
        await using var scope = Fixture.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
        return await db.IdempotencyRecords.CountAsync(r => r.Scope == account.Id);
    }

    [SkippableFact]
    public async Task Logs_past_retention_are_purged_by_the_job_and_their_deliveries_stay_readable()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var old = await step.ExecuteAndSettleAsync(new { id = "old-1" }, new { id = "old-2" });
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{step.StepId}/executions") { Content = JsonContent.Create(EngineBuilders.Contact("old-3"), options: ApiFixture.Json) })
        {
            request.Headers.Add("Idempotency-Key", "retention-1");
            (await step.Admin.SendAsync(request)).EnsureSuccessStatusCode();
        }

        var oldLogs = await Eventually.WaitAsync(() => step.Admin.AllPagesAsync("/v1/logs"), l => l.Count == 4, "four log entries (test send and three deliveries)");
        Assert.Equal(1, await IdempotencyRecordsAsync(account));

        Fixture.AdvanceAndWake(TimeSpan.FromDays(27));
        var recent = await step.ExecuteAndSettleAsync(new { id = "recent-1" });
        Fixture.AdvanceAndWake(TimeSpan.FromDays(2));
        var fresh = await step.ExecuteAndSettleAsync(new { id = "new-1" });
        await RunRetentionJobAsync();

        // 29 days old: gone. 2 days old, and new: kept (the default retention is 28 days).
        var logs = await step.Admin.AllPagesAsync("/v1/logs");
        Assert.Equal(["new-1", "recent-1"], logs.Select(l => l.Str("contactId")));
        foreach (var entry in oldLogs)
        {
            await (await step.Admin.GetAsync(new Uri($"/v1/logs/{entry.Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        }

        foreach (var id in old)
        {
            var delivery = await step.DeliveryAsync(id);
            Assert.Equal("succeeded", delivery.Str("status"));
            Assert.Equal(1, delivery.GetProperty("attempts").GetInt32());
        }

        Assert.Equal(5, (await step.Admin.AllPagesAsync($"/v1/deliveries?workflowWebhookId={step.StepId}")).Count);
        Assert.Equal("succeeded", (await step.DeliveryAsync(recent[0])).Str("status"));
        Assert.Equal("succeeded", (await step.DeliveryAsync(fresh[0])).Str("status"));

        // Idempotency keys live a day: the key can now start a new request.
        Assert.Equal(0, await IdempotencyRecordsAsync(account));
    }

    [SkippableFact]
    public async Task The_purge_deletes_in_bounded_batches_until_nothing_old_is_left()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        await step.ExecuteAndSettleAsync(new { id = "b-1" }, new { id = "b-2" }, new { id = "b-3" }, new { id = "b-4" });
        Assert.Equal(5, (await step.Admin.AllPagesAsync("/v1/logs")).Count);
        Fixture.AdvanceAndWake(TimeSpan.FromDays(8));

        var retention = new LogRetention(
            Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>(),
            Fixture.Time,
            Options.Create(new LogsOptions { RetentionDays = 7, PurgeBatchSize = 2 }),
            NullLogger<LogRetention>.Instance);
        var report = await retention.RunAsync(CancellationToken.None);

        Assert.True(report.AttemptsDeleted >= 5, $"deleted {report.AttemptsDeleted}");
        Assert.Empty(await step.Admin.AllPagesAsync("/v1/logs"));
        Assert.Equal(0, (await retention.RunAsync(CancellationToken.None)).AttemptsDeleted);
    }
}

[Collection(SqliteCollection.Name)]
public sealed class RetentionTests_Sqlite(SqliteApi fixture) : RetentionTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class RetentionTests_Postgres(PostgresApi fixture) : RetentionTests<PostgresApi>(fixture);
