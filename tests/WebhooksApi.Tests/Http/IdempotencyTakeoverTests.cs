using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Http;

/// <summary>
/// A node killed mid-request leaves its Idempotency-Key "running". Before the takeover, every
/// retry of that key answered 409 for a day, so a workflow engine could never get the batch in
/// (found by tests/WebhooksApi.ReliabilityTests). Now a stale key is taken over by the retry; the
/// executions' answer is stored in the same transaction as the deliveries, so a "running" key
/// always means nothing was stored and running the batch again accepts it exactly once.
/// </summary>
public abstract class IdempotencyTakeoverTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task A_key_left_running_by_a_dead_node_is_taken_over_after_a_minute_and_accepts_the_batch_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        var key = "batch-" + Guid.NewGuid().ToString("N");
        var body = new { items = new[] { new { contact = new { id = "t-1" } }, new { contact = new { id = "t-2" } } } };

        async Task<HttpResponseMessage> Post()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{step.StepId}/executions") { Content = JsonContent(body) };
            request.Headers.Add("Idempotency-Key", key);
            return await step.Admin.SendAsync(request);
        }

        // The state a kill -9 leaves between taking the key and committing: the key "running", no deliveries.
        var first = await (await Post()).ReadJsonAsync(HttpStatusCode.Accepted);
        await using (var db = await Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync())
        {
            var stepId = Guid.Parse(step.StepId);
            await Eventually.WaitAsync(() => Fixture.Receiver.Received(url).Count(r => r.BodyText.Contains("t-", StringComparison.Ordinal)) >= 2, "the first batch");
            await db.Deliveries.Where(d => d.WorkflowWebhookId == stepId).ExecuteDeleteAsync();
            Assert.Equal(1, await db.IdempotencyRecords.Where(r => r.Key == key)
                .ExecuteUpdateAsync(u => u.SetProperty(r => r.StatusCode, 0).SetProperty(r => r.Body, (byte[]?)null).SetProperty(r => r.ContentType, (string?)null)));
        }

        await (await Post()).AssertProblemAsync(HttpStatusCode.Conflict, "idempotency-key-in-progress");

        Fixture.Time.Advance(TimeSpan.FromSeconds(61));
        var taken = await Post();
        Assert.False(taken.Headers.Contains("Idempotent-Replayed"));
        var accepted = await taken.ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(2, accepted.GetProperty("pending").GetInt32());
        Assert.NotEqual(first.GetProperty("items")[0].Id(), accepted.GetProperty("items")[0].Id());

        // The stored answer is the one the takeover gave, and nothing was accepted twice.
        var replay = await Post();
        Assert.True(replay.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(accepted.GetRawText(), (await replay.ReadJsonAsync(HttpStatusCode.Accepted)).GetRawText());
        var deliveries = await step.Admin.GetJsonAsync($"/v1/deliveries?workflowWebhookId={step.StepId}");
        Assert.Equal(2, deliveries.GetProperty("items").GetArrayLength());
    }

    private static StringContent JsonContent(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}

[Collection(SqliteCollection.Name)]
public sealed class IdempotencyTakeoverTests_Sqlite(SqliteApi fixture) : IdempotencyTakeoverTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class IdempotencyTakeoverTests_Postgres(PostgresApi fixture) : IdempotencyTakeoverTests<PostgresApi>(fixture);
