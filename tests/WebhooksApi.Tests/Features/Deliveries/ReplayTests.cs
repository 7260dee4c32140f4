using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Deliveries;

public abstract class ReplayTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>A receiver that answers test sends with 200 and workflow requests with 500 until <see cref="Healthy"/> is set.</summary>
    private sealed class Switch
    {
        private int _healthy;

        public bool Healthy
        {
            get => Volatile.Read(ref _healthy) == 1;
            set => Volatile.Write(ref _healthy, value ? 1 : 0);
        }

        public async Task Handle(HttpContext ctx)
        {
            using var reader = new StreamReader(ctx.Request.Body);
            var body = await reader.ReadToEndAsync();
            ctx.Response.StatusCode = Healthy || body.Contains("\"webhook.test\"", StringComparison.Ordinal) ? 200 : 500;
        }
    }

    private List<ReceivedRequest> Workflow(string url) =>
        Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("\"workflow.execution\"", StringComparison.Ordinal)).ToList();

    /// <summary>An active step whose deliveries fail after one retry; returns the failed delivery ids.</summary>
    private async Task<(WorkflowStep Step, Switch Receiver, List<string> Failed)> FailedDeliveriesAsync(TestAccount account, params string[] contacts)
    {
        var receiver = new Switch();
        var url = Fixture.Receiver.NewEndpoint(receiver.Handle);
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "exponential", maxAttempts = 1 }));
        var ids = await step.ExecuteAndSettleAsync(contacts.Select(c => (object)new { id = c }).ToArray());
        Fixture.AdvanceAndWake(TimeSpan.FromSeconds(30));
        foreach (var id in ids)
        {
            Assert.Equal("failed", (await step.AttemptedAsync(id, 2)).Str("status"));
        }

        return (step, receiver, ids);
    }

    private static Task<HttpResponseMessage> RetryAsync(HttpClient client, string id) =>
        client.PostAsync(new Uri($"/v1/deliveries/{id}/retry", UriKind.Relative), null);

    [SkippableFact]
    public async Task A_failed_delivery_is_sent_again_as_the_same_message_in_a_new_attempt_series()
    {
        var account = await NewAccountAsync();
        var (step, receiver, failed) = await FailedDeliveriesAsync(account, "r-1");
        var id = failed[0];
        receiver.Healthy = true;

        var queued = await (await RetryAsync(step.Admin, id)).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(id, queued.Id());
        Assert.Contains(queued.Str("status"), (string[])["pending", "delivering", "succeeded"]);
        Assert.Equal(JsonValueKind.Null, queued.GetProperty("failureReason").ValueKind);

        var delivered = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "the replayed delivery");
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
        var arrivals = Workflow(step.Url);
        Assert.Equal(3, arrivals.Count);
        Assert.Single(arrivals.Select(r => r.Header("webhook-id")).Distinct());
        Assert.Equal(delivered.Str("webhookId"), arrivals[^1].Header("webhook-id"));

        // The log keeps the first series and shows the new one starting again at attempt 1.
        var logs = await step.Admin.AllPagesAsync($"/v1/logs?workflowWebhookId={step.StepId}");
        Assert.Equal([1, 2, 1], logs.Select(l => l.GetProperty("attempt").GetInt32()).Reverse());
        Assert.Equal(["http_error", "http_error", "ok"], logs.Select(l => l.Str("outcome")).Reverse());
    }

    [SkippableFact]
    public async Task A_succeeded_delivery_can_be_resent()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var id = (await step.ExecuteAndSettleAsync(new { id = "again-1" }))[0];
        Assert.Equal("succeeded", (await step.DeliveryAsync(id)).Str("status"));

        (await RetryAsync(step.Admin, id)).EnsureSuccessStatusCode();

        await Eventually.WaitAsync(() => Workflow(step.Url).Count >= 2, "the resend");
        Assert.Single(Workflow(step.Url).Select(r => r.Header("webhook-id")).Distinct());
        await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "resent delivery");
    }

    [SkippableFact]
    public async Task A_delivery_still_in_progress_is_a_409_and_another_accounts_is_a_404()
    {
        var account = await NewAccountAsync();
        var receiver = new Switch();
        var url = Fixture.Receiver.NewEndpoint(receiver.Handle);
        var step = await account.ActiveStepAsync(url);
        var pending = (await step.ExecuteAndSettleAsync(new { id = "p-1" }))[0];
        Assert.Equal("pending", (await step.DeliveryAsync(pending)).Str("status"));
        await (await RetryAsync(step.Admin, pending)).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");

        var untested = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        var held = (await untested.ExecuteAndSettleAsync(new { id = "h-1" }))[0];
        Assert.Equal("held", (await untested.DeliveryAsync(held)).Str("status"));
        await (await RetryAsync(step.Admin, held)).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");

        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        await (await RetryAsync(otherAdmin, pending)).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        await (await RetryAsync(otherAdmin, "nope")).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        using var reader = Fixture.Client(await account.KeyWithScopesAsync("logs:read"));
        await (await RetryAsync(reader, pending)).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task A_retry_while_the_connection_may_not_send_is_held_until_it_is_active_and_a_deleted_connection_is_a_409()
    {
        var account = await NewAccountAsync();
        var (step, receiver, failed) = await FailedDeliveriesAsync(account, "d-1", "d-2");
        receiver.Healthy = true;
        (await step.Admin.ActionAsync(step.ConnectionId, "disable")).EnsureSuccessStatusCode();

        var queued = await (await RetryAsync(step.Admin, failed[0])).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal("held", queued.Str("status"));
        Assert.Equal(0, queued.GetProperty("attempts").GetInt32());

        (await step.Admin.ActionAsync(step.ConnectionId, "activate")).EnsureSuccessStatusCode();
        await Eventually.WaitAsync(() => step.DeliveryAsync(failed[0]), d => d.Str("status") == "succeeded", "held replay resumed");

        (await step.Admin.DeleteAsync(new Uri($"/v1/connections/{step.ConnectionId}", UriKind.Relative))).EnsureSuccessStatusCode();
        await (await RetryAsync(step.Admin, failed[1])).AssertProblemAsync(HttpStatusCode.Conflict, "conflict");
        var bulk = await (await step.Admin.PostJsonAsync("/v1/deliveries/retry", new { connectionId = step.ConnectionId })).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(0, bulk.GetProperty("retried").GetInt32());
        Assert.Equal("failed", (await step.DeliveryAsync(failed[1])).Str("status"));
    }

    [SkippableFact]
    public async Task Bulk_retry_queues_the_matching_failed_deliveries_once_per_idempotency_key()
    {
        var account = await NewAccountAsync();
        var (a, receiverA, failedA) = await FailedDeliveriesAsync(account, "a-1", "a-2", "a-3");
        var (b, receiverB, failedB) = await FailedDeliveriesAsync(account, "b-1");
        receiverA.Healthy = true;
        receiverB.Healthy = true;
        var ok = (await a.ExecuteAndSettleAsync(new { id = "fine-1" }))[0];

        async Task<HttpResponseMessage> Post(object body, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/deliveries/retry") { Content = System.Net.Http.Json.JsonContent.Create(body, options: ApiFixture.Json) };
            request.Headers.Add("Idempotency-Key", key);
            return await a.Admin.SendAsync(request);
        }

        var first = await (await Post(new { connectionId = a.ConnectionId }, "bulk-a")).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(3, first.GetProperty("retried").GetInt32());
        Assert.Equal(3, first.GetProperty("pending").GetInt32());
        foreach (var id in failedA)
        {
            await Eventually.WaitAsync(() => a.DeliveryAsync(id), d => d.Str("status") == "succeeded", $"{id} replayed");
        }

        Assert.Equal("failed", (await b.DeliveryAsync(failedB[0])).Str("status"));
        Assert.Equal("succeeded", (await a.DeliveryAsync(ok)).Str("status"));
        var sent = Workflow(a.Url).Count;

        var repeat = await Post(new { connectionId = a.ConnectionId }, "bulk-a");
        Assert.Equal("true", repeat.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(first.GetRawText(), (await repeat.ReadJsonAsync(HttpStatusCode.Accepted)).GetRawText());

        var rest = await (await Post(new { }, "bulk-rest")).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(1, rest.GetProperty("retried").GetInt32());
        await Eventually.WaitAsync(() => b.DeliveryAsync(failedB[0]), d => d.Str("status") == "succeeded", "b-1 replayed");
        Assert.Equal(sent, Workflow(a.Url).Count);

        var resend = await (await Post(new { workflowWebhookId = a.StepId, status = "succeeded", from = Fixture.Time.GetUtcNow().AddHours(-1) }, "bulk-resend")).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(4, resend.GetProperty("retried").GetInt32());
        await Eventually.WaitAsync(() => Workflow(a.Url).Count >= sent + 4, "four resends");
    }

    [SkippableFact]
    public async Task Bulk_retry_with_a_to_bound_leaves_later_deliveries_alone()
    {
        var account = await NewAccountAsync();
        var (step, receiver, early) = await FailedDeliveriesAsync(account, "early-1", "early-2");
        var cut = Fixture.Time.GetUtcNow().AddMinutes(5);
        Fixture.Time.Advance(TimeSpan.FromMinutes(10));
        var later = await step.ExecuteAndSettleAsync(new { id = "late-1" });
        Fixture.AdvanceAndWake(TimeSpan.FromSeconds(30));
        Assert.Equal("failed", (await step.AttemptedAsync(later[0], 2)).Str("status"));
        receiver.Healthy = true;

        var result = await (await step.Admin.PostJsonAsync("/v1/deliveries/retry", new { connectionId = step.ConnectionId, to = cut })).ReadJsonAsync(HttpStatusCode.Accepted);

        Assert.Equal(2, result.GetProperty("retried").GetInt32());
        foreach (var id in early)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", $"{id} replayed");
        }

        Assert.Equal("failed", (await step.DeliveryAsync(later[0])).Str("status"));
    }

    [SkippableFact]
    public async Task Bulk_retry_walks_past_one_batch_and_holds_what_a_disabled_connection_may_not_send()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        (await step.Admin.ActionAsync(step.ConnectionId, "disable")).EnsureSuccessStatusCode();
        var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, 1_150).Select(i => new { contact = new { id = $"k-{i}" } }).ToArray() });
        Assert.Equal(1_150, accepted.GetProperty("skipped").GetInt32());

        var result = await (await step.Admin.PostJsonAsync("/v1/deliveries/retry", new { connectionId = step.ConnectionId, status = "skipped" })).ReadJsonAsync(HttpStatusCode.Accepted);

        Assert.Equal(1_150, result.GetProperty("retried").GetInt32());
        Assert.Equal(1_150, result.GetProperty("held").GetInt32());
        Assert.Equal(1_150, (await step.Admin.AllPagesAsync($"/v1/deliveries?connectionId={step.ConnectionId}&status=held")).Count);
    }

    [SkippableTheory]
    [InlineData("{\"status\": \"pending\"}", "status")]
    [InlineData("{\"status\": \"nonsense\"}", "/status")]
    [InlineData("{\"connectionId\": \"nope\"}", "connectionId")]
    [InlineData("{\"workflowWebhookId\": \"01900000-0000-7000-8000-000000000000\"}", "workflowWebhookId")]
    [InlineData("{\"from\": \"2026-11-02T00:00:00Z\", \"to\": \"2026-11-01T00:00:00Z\"}", "to")]
    public async Task A_bad_bulk_filter_is_a_400_naming_the_field(string body, string field)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var response = await admin.PostAsync(new Uri("/v1/deliveries/retry", UriKind.Relative), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
    }

    [SkippableFact]
    public async Task Bulk_retry_by_another_accounts_connection_is_a_400_and_touches_nothing()
    {
        var account = await NewAccountAsync();
        var (step, receiver, failed) = await FailedDeliveriesAsync(account, "t-1");
        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();

        var problem = await (await otherAdmin.PostJsonAsync("/v1/deliveries/retry", new { connectionId = step.ConnectionId })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("connectionId", out _));
        var everything = await (await otherAdmin.PostJsonAsync("/v1/deliveries/retry", new { })).ReadJsonAsync(HttpStatusCode.Accepted);
        Assert.Equal(0, everything.GetProperty("retried").GetInt32());
        Assert.Equal("failed", (await step.DeliveryAsync(failed[0])).Str("status"));
        receiver.Healthy = true;
    }
}

[Collection(SqliteCollection.Name)]
public sealed class ReplayTests_Sqlite(SqliteApi fixture) : ReplayTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class ReplayTests_Postgres(PostgresApi fixture) : ReplayTests<PostgresApi>(fixture);
