using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Delivery;
using WebhooksApi.Jobs;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Delivery;

/// <summary>Hours of retries and the two-hour rule, driven by the test clock in milliseconds.</summary>
[Collection(SqliteCollection.Name)]
public sealed class RetriesAndHealthTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private static Func<HttpContext, Task> Fail(int status = 500) => ctx => { ctx.Response.StatusCode = status; return Task.CompletedTask; };

    /// <summary>Answers the connection test with 200, then whatever <paramref name="workflow"/> says.</summary>
    private static Func<HttpContext, Task> TestOkThen(Func<HttpContext, Task> workflow) => async ctx =>
    {
        ctx.Request.EnableBuffering();
        using var reader = new StreamReader(ctx.Request.Body, leaveOpen: true);
        var body = await reader.ReadToEndAsync();
        ctx.Request.Body.Position = 0;
        if (body.Contains("\"webhook.test\"", StringComparison.Ordinal))
        {
            await ctx.Response.WriteAsync("{}");
            return;
        }

        await workflow(ctx);
    };

    private static async Task<JsonElement> AttemptedAsync(WorkflowStep step, string id, int attempts) =>
        await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() >= attempts && d.Str("status") != "delivering", $"attempt {attempts}");

    /// <summary>Fires the health check through Quartz (as its schedule would) and waits until it has run.</summary>
    private Task RunHealthCheckAsync() => RunHealthCheckAsync(Fixture.Factory.Services);

    private static Task RunHealthCheckAsync(IServiceProvider node)
    {
        var monitor = node.GetRequiredService<HealthMonitor>();
        return QuartzJobs.RunAsync(node, HealthCheckJob.Key, () => monitor.Started, () => monitor.Runs, "health check");
    }

    [Fact]
    public async Task Exponential_retries_ten_times_over_about_an_hour_then_fails()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(Fail()));
        var step = await account.ActiveStepAsync(url);
        var start = Fixture.Time.GetUtcNow();
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("r-1"))).GetProperty("items")[0].Id();

        JsonElement delivery = default;
        for (var attempt = 1; attempt <= 11; attempt++)
        {
            delivery = await AttemptedAsync(step, id, attempt);
            if (delivery.Str("status") == "pending")
            {
                Fixture.Time.SetUtcNow(delivery.GetProperty("nextAttemptAt").GetDateTimeOffset());
            }
        }

        Assert.Equal("failed", delivery.Str("status"));
        Assert.Equal("max_attempts", delivery.Str("failureReason"));
        Assert.Equal(11, delivery.GetProperty("attempts").GetInt32());
        var span = delivery.GetProperty("lastAttemptAt").GetDateTimeOffset() - start;
        Assert.InRange(span.TotalMinutes, 54, 67);
        var ids = Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("workflow.execution", StringComparison.Ordinal)).Select(r => r.Header("webhook-id")).Distinct();
        Assert.Single(ids);
    }

    [Fact]
    public async Task The_window_policy_retries_until_the_window_has_passed()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(Fail()));
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "window", windowHours = 1 }));
        var start = Fixture.Time.GetUtcNow();
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("w-1"))).GetProperty("items")[0].Id();

        var delivery = await AttemptedAsync(step, id, 1);
        while (delivery.Str("status") == "pending")
        {
            Fixture.Time.SetUtcNow(delivery.GetProperty("nextAttemptAt").GetDateTimeOffset());
            delivery = await AttemptedAsync(step, id, delivery.GetProperty("attempts").GetInt32() + 1);
        }

        Assert.Equal("window_elapsed", delivery.Str("failureReason"));
        Assert.True(delivery.GetProperty("lastAttemptAt").GetDateTimeOffset() <= start.AddHours(1));
        Assert.True(delivery.GetProperty("attempts").GetInt32() > 5);
    }

    [Fact]
    public async Task Retry_after_on_429_sets_the_next_attempt()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx => { ctx.Response.StatusCode = 429; ctx.Response.Headers.RetryAfter = "600"; return Task.CompletedTask; }));
        var step = await account.ActiveStepAsync(url);
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("ra-1"))).GetProperty("items")[0].Id();
        var delivery = await AttemptedAsync(step, id, 1);
        var wait = delivery.GetProperty("nextAttemptAt").GetDateTimeOffset() - delivery.GetProperty("lastAttemptAt").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromSeconds(600), wait);
    }

    [Fact]
    public async Task Ordered_deliveries_go_one_at_a_time_and_wait_behind_a_failing_head()
    {
        var account = await NewAccountAsync();
        var healthy = false;
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx =>
        {
            ctx.Response.StatusCode = Volatile.Read(ref healthy) ? 200 : 503;
            return Task.CompletedTask;
        }));
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "ordered" }));
        var accepted = await step.ExecuteAsync(new { items = new[] { new { contact = new { id = "o-1" } }, new { contact = new { id = "o-2" } }, new { contact = new { id = "o-3" } } } });
        var ids = accepted.GetProperty("items").EnumerateArray().Select(i => i.Id()).ToList();

        var head = await AttemptedAsync(step, ids[0], 1);
        Assert.Equal("pending", head.Str("status"));
        Assert.Equal(TimeSpan.FromMinutes(1), head.GetProperty("nextAttemptAt").GetDateTimeOffset() - head.GetProperty("lastAttemptAt").GetDateTimeOffset());
        foreach (var behind in ids.Skip(1))
        {
            Assert.Equal(0, (await step.DeliveryAsync(behind)).GetProperty("attempts").GetInt32());
        }

        Volatile.Write(ref healthy, true);
        Fixture.Time.Advance(TimeSpan.FromMinutes(1));
        foreach (var id in ids)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", $"{id} delivered");
        }

        var order = Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("workflow.execution", StringComparison.Ordinal))
            .Select(r => JsonDocument.Parse(r.BodyText).RootElement.GetProperty("data").GetProperty("contact").Str("id")).ToList();
        Assert.Equal(["o-1", "o-1", "o-2", "o-3"], order);
    }

    [Fact]
    public async Task A_410_puts_the_connection_in_error_and_holds_what_follows()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(Fail(410)));
        var step = await account.ActiveStepAsync(url);
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("g-1"))).GetProperty("items")[0].Id();
        await AttemptedAsync(step, id, 1);

        var connection = await Eventually.WaitAsync(() => step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}"), c => c.Str("status") == "error", "connection in error");
        Assert.Contains("410", connection.Str("statusReason"), StringComparison.Ordinal);
        Assert.Equal("held", (await step.DeliveryAsync(id)).Str("status"));
        Assert.Equal("held", (await step.ExecuteAsync(EngineBuilders.Contact("g-2"))).GetProperty("items")[0].Str("status"));
    }

    [Fact]
    public async Task Two_hours_without_success_put_a_connection_in_error_and_activation_resumes_held_deliveries_in_order()
    {
        var account = await NewAccountAsync();
        var healthy = false;
        var url = Fixture.Receiver.NewEndpoint(ctx => { ctx.Response.StatusCode = Volatile.Read(ref healthy) ? 200 : 500; return Task.CompletedTask; });
        Volatile.Write(ref healthy, true);
        var step = await account.ActiveStepAsync(url);
        Volatile.Write(ref healthy, false);
        var first = (await step.ExecuteAsync(EngineBuilders.Contact("h-1"))).GetProperty("items")[0].Id();
        await AttemptedAsync(step, first, 1);

        Fixture.Time.Advance(TimeSpan.FromMinutes(90));
        await RunHealthCheckAsync();
        Assert.Equal("active", (await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}")).Str("status"));

        Fixture.Time.Advance(TimeSpan.FromMinutes(31));
        await RunHealthCheckAsync();
        var connection = await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}");
        Assert.Equal("error", connection.Str("status"));
        Assert.Contains("No successful attempt", connection.Str("statusReason"), StringComparison.Ordinal);
        await Eventually.WaitAsync(() => step.DeliveryAsync(first), d => d.Str("status") == "held", "first delivery held");
        var second = (await step.ExecuteAsync(EngineBuilders.Contact("h-2"))).GetProperty("items")[0].Id();
        Assert.Equal("held", (await step.DeliveryAsync(second)).Str("status"));

        Volatile.Write(ref healthy, true);
        Assert.Equal("ok", (await step.Admin.TestConnectionAsync(step.ConnectionId)).Str("outcome"));
        (await step.Admin.ActionAsync(step.ConnectionId, "activate")).EnsureSuccessStatusCode();
        await Eventually.WaitAsync(() => step.DeliveryAsync(first), d => d.Str("status") == "succeeded", "first delivered");
        await Eventually.WaitAsync(() => step.DeliveryAsync(second), d => d.Str("status") == "succeeded", "second delivered");
    }

    [Fact]
    public async Task A_connection_failing_most_attempts_for_two_hours_goes_to_error_even_with_some_successes()
    {
        // A database of its own: the health check judges every connection it holds, and after two
        // hours of test clock on the collection's shared database the same run also puts every
        // earlier test's failing connection in error and holds its deliveries, beside the retries
        // the jump made due. Twice in this stop's CI runs the second check here had not finished
        // within the minute the test waits; whether it had begun was not recorded (the wait now
        // says), so this is the likeliest cause, not a proven one.
        await using var node = await PrivateNode.StartAsync(Fixture);
        var calls = 0;
        // Flapping: one success in three, so FailingSince keeps resetting.
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx =>
        {
            ctx.Response.StatusCode = Interlocked.Increment(ref calls) % 3 == 0 ? 200 : 500;
            return Task.CompletedTask;
        }));
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "exponential", maxAttempts = 0 }));
        async Task Burst(int n)
        {
            var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, n).Select(i => new { contact = new { id = $"f-{Guid.NewGuid():N}" } }).ToArray() });
            foreach (var item in accepted.GetProperty("items").EnumerateArray())
            {
                await Eventually.WaitAsync(() => step.DeliveryAsync(item.Id()), d => d.Str("status") is "succeeded" or "failed", "burst delivered");
            }
        }

        await Burst(6);
        await RunHealthCheckAsync(node.Factory.Services);
        Assert.Equal("active", (await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}")).Str("status"));

        Fixture.Time.Advance(TimeSpan.FromMinutes(61));
        await Burst(12);
        Fixture.Time.Advance(TimeSpan.FromMinutes(61));
        await Burst(3);
        await RunHealthCheckAsync(node.Factory.Services);

        var connection = await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}");
        Assert.Equal("error", connection.Str("status"));
        Assert.Contains("attempts failed", connection.Str("statusReason"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Template_errors_for_two_hours_leave_the_connection_active()
    {
        // A database of its own, as above: the check judges every connection it holds.
        await using var node = await PrivateNode.StartAsync(Fixture);
        var url = Fixture.Receiver.NewEndpoint();
        // Valid JSON for the test send's sample contact, not for a VIP: the endpoint itself is fine.
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("bodyTemplate", "{\"vip\": {{#if contact.vip}}yes{{else}}false{{/if}}}"));
        async Task Burst(int n)
        {
            var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, n).Select(i => new { contact = new { id = $"t-{Guid.NewGuid():N}", vip = true } }).ToArray() });
            foreach (var item in accepted.GetProperty("items").EnumerateArray())
            {
                var failed = await Eventually.WaitAsync(() => step.DeliveryAsync(item.Id()), d => d.Str("status") == "failed", "template error");
                Assert.Equal("template_error", failed.Str("failureReason"));
            }
        }

        // In use before the window, then every attempt of it a template error, and no success for over two hours.
        await Burst(12);
        Fixture.Time.Advance(TimeSpan.FromMinutes(61));
        await Burst(12);
        Fixture.Time.Advance(TimeSpan.FromMinutes(61));
        await RunHealthCheckAsync(node.Factory.Services);

        var connection = await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}");
        Assert.Equal("active", connection.Str("status"));
        Assert.DoesNotContain(Fixture.Receiver.Received(url), r => r.BodyText.Contains("workflow.execution", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deliveries_held_longer_than_the_hold_limit_expire_as_failed()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url, activate: false);
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("x-1"))).GetProperty("items")[0].Id();
        Assert.Equal("held", (await step.DeliveryAsync(id)).Str("status"));

        Fixture.Time.Advance(TimeSpan.FromHours(73));
        await RunHealthCheckAsync();

        var expired = await step.DeliveryAsync(id);
        Assert.Equal("failed", expired.Str("status"));
        Assert.Equal("expired", expired.Str("failureReason"));
    }

    [Fact]
    public async Task A_delivery_left_delivering_by_a_dead_node_goes_back_to_pending_and_is_delivered()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        (await step.Admin.ActionAsync(step.ConnectionId, "disable")).EnsureSuccessStatusCode();
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("k-1"))).GetProperty("items")[0].Id();

        // As a crashed node leaves it: claimed, lease running, never finished.
        await using (var scope = Fixture.Factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
            var now = Fixture.Time.GetUtcNow();
            await db.Deliveries.Where(d => d.Id == Guid.Parse(id)).ExecuteUpdateAsync(u => u
                .SetProperty(d => d.Status, DeliveryStatuses.Delivering)
                .SetProperty(d => d.ClaimToken, Guid.NewGuid())
                .SetProperty(d => d.LockedUntil, now.AddMinutes(2))
                .SetProperty(d => d.CompletedAt, (DateTimeOffset?)null));
            await db.Connections.Where(c => c.Id == Guid.Parse(step.ConnectionId)).ExecuteUpdateAsync(u => u.SetProperty(c => c.Status, ConnectionStatuses.Active));
        }

        Fixture.Time.Advance(TimeSpan.FromMinutes(3));
        var delivered = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "recovered delivery");
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task A_delivery_still_in_flight_past_its_lease_keeps_its_claim_and_is_sent_once()
    {
        var account = await NewAccountAsync();
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = 0;
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(async ctx =>
        {
            Interlocked.Increment(ref requests);
            arrived.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }));
        var step = await account.ActiveStepAsync(url);
        var id = Guid.Parse((await step.ExecuteAsync(EngineBuilders.Contact("renew-1"))).GetProperty("items")[0].Id());
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20));

        async Task<WebhookDelivery> RowAsync()
        {
            await using var scope = Fixture.Factory.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<WebhooksDbContext>().Deliveries.AsNoTracking().SingleAsync(d => d.Id == id);
        }

        var claimed = await RowAsync();
        Assert.Equal(DeliveryStatuses.Delivering, claimed.Status);
        var lease = Fixture.Factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DispatcherOptions>>().Value.Lease;

        // Three leases of test time, a third of one at a time: each step lets the renewal run
        // (it waits a third of a lease on the same clock), which moves the lease on from there.
        for (var elapsed = TimeSpan.Zero; elapsed < 3 * lease; elapsed += lease / 3)
        {
            Fixture.Time.Advance(lease / 3);
            var now = Fixture.Time.GetUtcNow();
            await Eventually.WaitAsync(RowAsync, d => d.LockedUntil >= now + lease - (lease / 3), "lease renewed");
        }

        // What recovery does for a dead node's rows: this one's lease is alive, so it stays claimed.
        await using (var scope = Fixture.Factory.Services.CreateAsyncScope())
        {
            Assert.Equal(0, await DeliveryStore.RecoverExpiredAsync(scope.ServiceProvider.GetRequiredService<WebhooksDbContext>(), Fixture.Time.GetUtcNow(), CancellationToken.None));
        }

        var held = await RowAsync();
        Assert.Equal(DeliveryStatuses.Delivering, held.Status);
        Assert.Equal(claimed.ClaimToken, held.ClaimToken);

        release.SetResult();
        var delivered = await AttemptedAsync(step, id.ToString(), 1);
        Assert.Equal("succeeded", delivered.Str("status"));
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
        Assert.Equal(1, Volatile.Read(ref requests));
    }
}
