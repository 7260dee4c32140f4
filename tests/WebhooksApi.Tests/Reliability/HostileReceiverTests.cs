using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Receivers that misbehave on purpose, each reached by a real workflow delivery through the
/// dispatcher: every attempt is logged with the outcome that names what happened, nothing is
/// read or followed beyond what the sender allows, and the dispatcher keeps delivering for
/// everyone else. Timeouts are real I/O time (timeoutSeconds 1); nothing here sleeps to wait.
/// </summary>
public abstract class HostileReceiverTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static Dictionary<string, object?> Connection(string url, int timeoutSeconds = 1) =>
        Builders.Connection(url).With("timeoutSeconds", timeoutSeconds);

    /// <summary>The delivery once its first attempt has been written (it left `delivering`).</summary>
    private static Task<JsonElement> FirstAttemptAsync(WorkflowStep step, string id) =>
        Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() >= 1 && d.Str("status") != "delivering", "the first attempt", Prompt);

    private static async Task<string> ExecuteOneAsync(WorkflowStep step, string contactId) =>
        (await step.ExecuteAsync(EngineBuilders.Contact(contactId))).GetProperty("items")[0].Id();

    /// <summary>The logged attempts of one delivery, newest first, with the whole exchange.</summary>
    private static async Task<JsonElement> LoggedAttemptAsync(WorkflowStep step, string deliveryId)
    {
        var page = await step.Admin.GetJsonAsync($"/v1/logs?connectionId={step.ConnectionId}");
        var entry = page.GetProperty("items").EnumerateArray().First(e => e.TryGetProperty("deliveryId", out var d) && d.GetString() == deliveryId);
        return await step.Admin.GetJsonAsync($"/v1/logs/{entry.Id()}");
    }

    /// <summary>A 200 to the connection test, then whatever <paramref name="workflow"/> says.</summary>
    private static Func<HttpContext, Task> TestOkThen(Func<HttpContext, Task> workflow) => async ctx =>
    {
        using var reader = new StreamReader(ctx.Request.Body, leaveOpen: true);
        if ((await reader.ReadToEndAsync()).Contains("\"webhook.test\"", StringComparison.Ordinal))
        {
            await ctx.Response.WriteAsync("{}");
            return;
        }

        await workflow(ctx);
    };

    private IEnumerable<ReceivedRequest> Workflow(string url) =>
        Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("workflow.execution", StringComparison.Ordinal));

    [SkippableFact]
    public async Task A_receiver_that_never_answers_is_a_logged_timeout_and_the_sender_hangs_up()
    {
        var account = await NewAccountAsync();
        await using var server = HostileServer.TestOkThen(e => e.HangUntilClientClosesAsync());
        var step = await account.ActiveStepAsync(server.Url, Connection(server.Url));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, "hang-1"));

        Assert.Equal("pending", delivery.Str("status"));
        Assert.Equal("timeout", delivery.GetProperty("lastResponse").Str("outcome"));
        var logged = await LoggedAttemptAsync(step, delivery.Id());
        Assert.Equal("timeout", logged.Str("outcome"));
        Assert.InRange(logged.GetProperty("durationMs").GetInt32(), 900, 5000);
        Assert.Equal(JsonValueKind.Null, logged.GetProperty("response").ValueKind);
        // The sender closed its end: no socket is left open on a receiver that will never answer.
        await Eventually.WaitAsync(() => server.ClosedByClient >= 1 && server.Open == 0, "the sender to hang up", Prompt);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_receiver_answering_one_byte_a_second_is_cut_off_at_the_timeout(bool headersFirst)
    {
        var account = await NewAccountAsync();
        const string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{\"slow\":\"0123456789012345678901234567\"}";
        var split = headersFirst ? answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4 : 0;
        await using var server = HostileServer.TestOkThen(async e =>
        {
            await e.WriteAsync(answer[..split]);
            foreach (var c in answer[split..])
            {
                // The deliberate slowness of this receiver: one byte, then a second's pause.
                await e.WriteAsync(c.ToString());
                await Task.Delay(TimeSpan.FromSeconds(1), e.Stopping);
            }
        });
        var step = await account.ActiveStepAsync(server.Url, Connection(server.Url));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, "slow-1"));

        Assert.Equal("pending", delivery.Str("status"));
        var logged = await LoggedAttemptAsync(step, delivery.Id());
        Assert.Equal("timeout", logged.Str("outcome"));
        // The whole answer would take ~100 s; the limit is on the whole exchange, not per read.
        Assert.InRange(logged.GetProperty("durationMs").GetInt32(), 900, 5000);
        await Eventually.WaitAsync(() => server.Open == 0, "the slow connection to be dropped", Prompt);
    }

    [SkippableFact]
    public async Task A_50_MB_answer_is_read_to_64_KiB_and_the_rest_is_never_downloaded()
    {
        var account = await NewAccountAsync();
        const int fifty = 50 * 1024 * 1024;
        long written = 0;
        await using var server = HostileServer.TestOkThen(async e =>
        {
            await e.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {fifty}\r\n\r\n");
            var chunk = Encoding.ASCII.GetBytes(new string('x', 64 * 1024));
            while (Interlocked.Read(ref written) < fifty)
            {
                await e.Stream.WriteAsync(chunk, e.Stopping);
                Interlocked.Add(ref written, chunk.Length);
            }
        });
        var step = await account.ActiveStepAsync(server.Url, Connection(server.Url, timeoutSeconds: 10));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, "huge-1"));

        Assert.Equal("succeeded", delivery.Str("status"));
        var logged = await LoggedAttemptAsync(step, delivery.Id());
        Assert.Equal("ok", logged.Str("outcome"));
        Assert.Equal(64 * 1024, logged.GetProperty("response").Str("body").Length);
        // The sender dropped the connection: the server could push only what socket buffers and
        // the handler's bounded drain absorb, nowhere near 50 MB.
        await Eventually.WaitAsync(() => server.Open == 0, "the huge answer's connection to be dropped", Prompt);
        Assert.InRange(Interlocked.Read(ref written), 64 * 1024, 16 * 1024 * 1024);
    }

    [SkippableTheory]
    [InlineData("before the answer")]
    [InlineData("inside the headers")]
    [InlineData("inside the body")]
    public async Task A_connection_reset_is_a_logged_connection_error_and_the_delivery_is_retried(string where)
    {
        var account = await NewAccountAsync();
        async Task ResetAsync(HostileExchange e)
        {
            switch (where)
            {
                case "inside the headers":
                    await e.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: appl");
                    break;
                case "inside the body":
                    await e.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{\"partial\":\"");
                    break;
            }

            e.Reset();
        }

        await using var server = HostileServer.TestOkThen(ResetAsync);
        var step = await account.ActiveStepAsync(server.Url, Connection(server.Url));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, "reset-1"));

        Assert.Equal("pending", delivery.Str("status"));
        Assert.Equal("connection_error", delivery.GetProperty("lastResponse").Str("outcome"));
        Assert.Equal("connection_error", (await LoggedAttemptAsync(step, delivery.Id())).Str("outcome"));

        // A test send against the same misbehaviour: the exchange comes back as a result, not a 500.
        await using var always = HostileServer.Start(ResetAsync);
        var created = await step.Admin.CreateConnectionAsync(Connection(always.Url));
        var test = await step.Admin.TestConnectionAsync(created.Id());
        Assert.Equal("connection_error", test.Str("outcome"));
        Assert.False(test.GetProperty("canActivate").GetBoolean());
    }

    [SkippableTheory]
    [InlineData(301)]
    [InlineData(302)]
    [InlineData(303)]
    [InlineData(307)]
    [InlineData(308)]
    public async Task A_redirect_to_an_internal_address_is_logged_and_not_followed(int status)
    {
        var account = await NewAccountAsync();
        // 127.0.0.1 is allow-listed on the test node, so a followed redirect would arrive here.
        var target = Fixture.Receiver.NewEndpoint();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx =>
        {
            ctx.Response.StatusCode = status;
            ctx.Response.Headers.Location = target;
            return Task.CompletedTask;
        }));
        var step = await account.ActiveStepAsync(url, Connection(url));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, $"redirect-{status}"));

        Assert.Equal("pending", delivery.Str("status"));
        var logged = await LoggedAttemptAsync(step, delivery.Id());
        Assert.Equal("http_error", logged.Str("outcome"));
        Assert.Equal(status, logged.GetProperty("statusCode").GetInt32());
        Assert.Equal(target, logged.GetProperty("response").GetProperty("headers").Str("Location"));
        Assert.Empty(Fixture.Receiver.Received(target));
    }

    [SkippableTheory]
    [InlineData(429, "120", 120, 120)]
    [InlineData(429, "http-date+600", 598, 602)]
    [InlineData(429, "31536000", 3600, 3600)] // a year: capped at the hour RetrySchedule.MaxRetryAfter allows
    [InlineData(429, "0", 18, 22)] // sooner than the policy's own backoff (20 s +-10%): the backoff wins
    [InlineData(429, "soon", 18, 22)] // unparseable: ignored
    [InlineData(503, "300", 300, 300)]
    public async Task A_429_or_503_with_Retry_After_is_retried_when_asked_within_the_policys_bounds(int status, string retryAfter, int minSeconds, int maxSeconds)
    {
        var account = await NewAccountAsync();
        var calls = 0;
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx =>
        {
            if (Interlocked.Increment(ref calls) > 1)
            {
                return ctx.Response.WriteAsync("{}");
            }

            ctx.Response.StatusCode = status;
            ctx.Response.Headers.RetryAfter = retryAfter == "http-date+600"
                ? DateTimeOffset.UtcNow.AddSeconds(600).ToString("r", CultureInfo.InvariantCulture)
                : retryAfter;
            return Task.CompletedTask;
        }));
        var step = await account.ActiveStepAsync(url, Connection(url));
        var id = await ExecuteOneAsync(step, "busy-1");

        var delivery = await FirstAttemptAsync(step, id);

        Assert.Equal("pending", delivery.Str("status"));
        Assert.Equal(status, delivery.GetProperty("lastResponse").GetProperty("statusCode").GetInt32());
        var next = delivery.GetProperty("nextAttemptAt").GetDateTimeOffset();
        var wait = next - delivery.GetProperty("lastAttemptAt").GetDateTimeOffset();
        Assert.InRange(wait.TotalSeconds, minSeconds, maxSeconds);
        Assert.Equal("http_error", (await LoggedAttemptAsync(step, id)).Str("outcome"));

        Fixture.Time.SetUtcNow(next);
        var done = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "the retry after Retry-After", Prompt);
        Assert.Equal(2, done.GetProperty("attempts").GetInt32());
    }

    [SkippableFact]
    public async Task A_410_is_logged_once_stops_the_connection_and_is_never_retried_by_the_clock()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(TestOkThen(ctx => { ctx.Response.StatusCode = 410; return Task.CompletedTask; }));
        var step = await account.ActiveStepAsync(url, Connection(url));
        var barrierUrl = Fixture.Receiver.NewEndpoint();
        var barrier = await account.ActiveStepAsync(barrierUrl);
        var id = await ExecuteOneAsync(step, "gone-1");

        await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "held", "the delivery to be held", Prompt);
        var logged = await LoggedAttemptAsync(step, id);
        Assert.Equal("http_error", logged.Str("outcome"));
        Assert.Equal(410, logged.GetProperty("statusCode").GetInt32());
        var connection = await step.Admin.GetJsonAsync($"/v1/connections/{step.ConnectionId}");
        Assert.Equal("error", connection.Str("status"));

        // Hours pass on the clock; a delivery on another connection proves the dispatcher has run since.
        Fixture.Time.Advance(TimeSpan.FromHours(2));
        var after = await ExecuteOneAsync(barrier, "gone-barrier");
        await Eventually.WaitAsync(() => barrier.DeliveryAsync(after), d => d.Str("status") == "succeeded", "the barrier delivery", Prompt);

        Assert.Single(Workflow(url));
        Assert.Equal("held", (await step.DeliveryAsync(id)).Str("status"));
    }

    [SkippableFact]
    public async Task After_hanging_slow_and_resetting_receivers_a_normal_connection_still_delivers_promptly()
    {
        var account = await NewAccountAsync();
        await using var hang = HostileServer.TestOkThen(e => e.HangUntilClientClosesAsync());
        await using var slow = HostileServer.TestOkThen(async e =>
        {
            foreach (var c in "HTTP/1.1 200 OK\r\n\r\n")
            {
                await e.WriteAsync(c.ToString());
                await Task.Delay(TimeSpan.FromSeconds(1), e.Stopping);
            }
        });
        await using var reset = HostileServer.TestOkThen(e => { e.Reset(); return Task.CompletedTask; });
        var hostile = new List<(WorkflowStep Step, string Id)>();
        foreach (var server in new[] { hang, slow, reset })
        {
            var step = await account.ActiveStepAsync(server.Url, Connection(server.Url));
            var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, 5).Select(i => new { contact = new { id = $"h-{i}" } }).ToArray() });
            hostile.AddRange(accepted.GetProperty("items").EnumerateArray().Select(i => (step, i.Id())));
        }

        foreach (var (step, id) in hostile)
        {
            await FirstAttemptAsync(step, id);
        }

        var url = Fixture.Receiver.NewEndpoint();
        var normal = await account.ActiveStepAsync(url);
        var started = DateTime.UtcNow;
        var ok = await ExecuteOneAsync(normal, "after-hostile");
        await Eventually.WaitAsync(() => normal.DeliveryAsync(ok), d => d.Str("status") == "succeeded", "the normal delivery", TimeSpan.FromSeconds(5));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
        await Eventually.WaitAsync(() => hang.Open + slow.Open + reset.Open == 0, "every hostile connection to be closed", Prompt);
    }

    [SkippableFact]
    public async Task Endless_response_headers_are_refused_at_64_KiB_as_a_connection_error()
    {
        var account = await NewAccountAsync();
        long written = 0;
        await using var server = HostileServer.TestOkThen(async e =>
        {
            await e.WriteAsync("HTTP/1.1 200 OK\r\n");
            while (Interlocked.Read(ref written) < 16 * 1024 * 1024)
            {
                await e.WriteAsync($"X-Filler-{written}: {new string('h', 1000)}\r\n");
                Interlocked.Add(ref written, 1024);
            }
        });
        var step = await account.ActiveStepAsync(server.Url, Connection(server.Url, timeoutSeconds: 10));

        var delivery = await FirstAttemptAsync(step, await ExecuteOneAsync(step, "headers-1"));

        Assert.Equal("pending", delivery.Str("status"));
        var logged = await LoggedAttemptAsync(step, delivery.Id());
        Assert.Equal("connection_error", logged.Str("outcome"));
        Assert.True(logged.GetProperty("durationMs").GetInt32() < 9000, "refused at the header limit, not at the timeout");
        await Eventually.WaitAsync(() => server.Open == 0, "the connection to be dropped", Prompt);
        Assert.True(Interlocked.Read(ref written) < 16 * 1024 * 1024);
    }

    [SkippableFact]
    public async Task A_hanging_connection_holds_only_its_own_slots_and_others_keep_delivering()
    {
        SkipIfUnavailable();
        // A node of its own holding 8 deliveries with 8 requests, so a backlog of 20 on one endpoint
        // is more than the node can hold at once (on the shared node 8,192 slots hide the problem).
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:MaxInFlight", "8"), ("Delivery:MaxClaimed", "8"));
        await using var hang = HostileServer.TestOkThen(e => e.HangUntilClientClosesAsync());
        var stuck = await node.ActiveStepAsync(hang.Url, Connection(hang.Url, timeoutSeconds: 5).With("maxConcurrency", 2));
        await stuck.ExecuteAsync(new { items = Enumerable.Range(0, 20).Select(i => new { contact = new { id = $"stuck-{i}" } }).ToArray() });
        // Not answered here yet, it is sent one row until it answers (here: its 5 s timeout); the
        // other 19 wait in the database, not in the node's slots.
        await Eventually.WaitAsync(() => hang.Deliveries.Count >= 1, "the hanging endpoint to hold its first slot", Prompt);

        var url = Fixture.Receiver.NewEndpoint();
        var normal = await node.ActiveStepAsync(url, Connection(url));
        var accepted = await normal.ExecuteAsync(new { items = Enumerable.Range(0, 5).Select(i => new { contact = new { id = $"free-{i}" } }).ToArray() });
        foreach (var id in accepted.GetProperty("items").EnumerateArray().Select(i => i.Id()))
        {
            await Eventually.WaitAsync(() => normal.DeliveryAsync(id), d => d.Str("status") == "succeeded", "the normal connection's deliveries", TimeSpan.FromSeconds(4));
        }

        // Delivered while the first hanging request was still being waited for: nothing queued
        // behind the slow endpoint.
        Assert.Single(hang.Deliveries);
        Assert.Equal(0, hang.ClosedByClient);
    }
}

[Collection(SqliteCollection.Name)]
public sealed class HostileReceiverTests_Sqlite(SqliteApi fixture) : HostileReceiverTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class HostileReceiverTests_Postgres(PostgresApi fixture) : HostileReceiverTests<PostgresApi>(fixture);
