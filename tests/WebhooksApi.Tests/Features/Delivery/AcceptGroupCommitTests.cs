using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Delivery;

/// <summary>
/// Accepts under concurrency, through HTTP: concurrent executions calls that wait for a writer
/// share one transaction (group commit, see AcceptCommitter: SQLite's one writer, a few side by
/// side on PostgreSQL). Every 202 is a committed delivery, sent exactly once, and one call's
/// failure is its own.
/// </summary>
public abstract class AcceptGroupCommitTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    private protected AcceptCommitter Committer => Fixture.Factory.Services.GetRequiredService<AcceptCommitter>();

    [SkippableFact]
    public async Task Two_hundred_single_executions_fired_at_once_are_all_accepted_and_each_delivered_exactly_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        const int n = 200;

        var responses = await Task.WhenAll(Enumerable.Range(0, n).Select(i =>
            step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact($"burst-{i}"))));

        var ids = new List<string>();
        foreach (var response in responses)
        {
            var accepted = await response.ReadJsonAsync(HttpStatusCode.Accepted);
            ids.Add(accepted.GetProperty("items")[0].Id());
        }

        Assert.Equal(n, ids.Distinct().Count());
        Assert.Equal(n, await CountDeliveriesAsync(step));
        await Eventually.WaitAsync(() => CountDeliveriesAsync(step, "succeeded"), c => c == n, "every delivery succeeded", TimeSpan.FromSeconds(60));
        var arrived = Workflow(url);
        Assert.Equal(n, arrived.Count);
        Assert.Equal(n, arrived.Select(r => r.Header("webhook-id")).Distinct().Count());
        Assert.Equal(
            Enumerable.Range(0, n).Select(i => $"burst-{i}").Order(StringComparer.Ordinal),
            arrived.Select(r => JsonDocument.Parse(r.BodyText).RootElement.GetProperty("data").GetProperty("contact").Str("id")).Order(StringComparer.Ordinal));
    }

    /// <summary>A keyed executions call, as integrators send it.</summary>
    private protected static Task<HttpResponseMessage> SendKeyedAsync(WorkflowStep step, string key, object body, string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{step.StepId}/executions{query}")
        {
            Content = JsonContent.Create(body, options: ApiFixture.Json),
        };
        request.Headers.Add("Idempotency-Key", key);
        return step.Admin.SendAsync(request);
    }

    [SkippableFact]
    public async Task A_keyed_execution_refused_as_invalid_stores_that_answer_and_a_repeat_replays_it_without_running()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var invalid = new { items = new[] { EngineBuilders.Contact("w-a"), EngineBuilders.Contact("w-b") } };

        var first = await SendKeyedAsync(step, "k-invalid", invalid, "?wait=true");
        var firstProblem = await first.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        var again = await SendKeyedAsync(step, "k-invalid", invalid, "?wait=true");

        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(firstProblem.GetRawText(), (await again.Content.ReadFromJsonAsync<JsonElement>()).GetRawText());
        Assert.Equal(0, await CountDeliveriesAsync(step));
    }

    [SkippableFact]
    public async Task A_keyed_execution_that_waits_for_its_send_holds_the_key_first_and_a_repeat_replays_its_result()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);

        var first = await SendKeyedAsync(step, "k-wait", EngineBuilders.Contact("w-wait"), "?wait=true");
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.True(first.IsSuccessStatusCode, firstBody);
        var again = await SendKeyedAsync(step, "k-wait", EngineBuilders.Contact("w-wait"), "?wait=true");

        Assert.Equal(first.StatusCode, again.StatusCode);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(firstBody, await again.Content.ReadAsStringAsync());
        Assert.Equal(1, await CountDeliveriesAsync(step));
        Assert.Single(Workflow(url));
    }

    [SkippableFact]
    public async Task Concurrent_keyed_executions_and_a_repeated_key_accept_each_execution_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        var prefix = Guid.NewGuid().ToString("N")[..8];
        var repeated = $"{prefix}-repeated";

        Task<HttpResponseMessage> Send(string key, string contactId)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{step.StepId}/executions")
            {
                Content = JsonContent.Create(EngineBuilders.Contact(contactId), options: ApiFixture.Json),
            };
            request.Headers.Add("Idempotency-Key", key);
            return step.Admin.SendAsync(request);
        }

        var distinct = Enumerable.Range(0, 40).Select(i => Send($"{prefix}-{i}", $"key-{i}")).ToList();
        var repeats = Enumerable.Range(0, 6).Select(_ => Send(repeated, "key-repeated")).ToList();
        await Task.WhenAll(distinct.Concat(repeats));

        foreach (var response in distinct.Select(t => t.Result))
        {
            Assert.False(response.Headers.Contains("Idempotent-Replayed"));
            await response.ReadJsonAsync(HttpStatusCode.Accepted);
        }

        // One of the repeats ran; each other one saw it running (409) or replayed its answer.
        var firsts = new List<string>();
        var replays = new List<string>();
        foreach (var response in repeats.Select(t => t.Result))
        {
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                await response.AssertProblemAsync(HttpStatusCode.Conflict, "idempotency-key-in-progress");
                continue;
            }

            var body = (await response.ReadJsonAsync(HttpStatusCode.Accepted)).GetRawText();
            (response.Headers.Contains("Idempotent-Replayed") ? replays : firsts).Add(body);
        }

        var first = Assert.Single(firsts);
        Assert.All(replays, r => Assert.Equal(first, r));
        var again = await Send(repeated, "key-repeated");
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(first, (await again.ReadJsonAsync(HttpStatusCode.Accepted)).GetRawText());

        Assert.Equal(41, await CountDeliveriesAsync(step));
        await Eventually.WaitAsync(() => CountDeliveriesAsync(step, "succeeded"), c => c == 41, "every delivery succeeded", TimeSpan.FromSeconds(60));
        Assert.Equal(41, Workflow(url).Count);
        Assert.Single(Workflow(url), r => r.BodyText.Contains("\"key-repeated\"", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task An_invalid_batch_among_concurrent_executions_is_refused_alone()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        var path = $"/v1/workflow-webhooks/{step.StepId}/executions";

        var valid = Enumerable.Range(0, 60).Select(i => step.Admin.PostJsonAsync(path, EngineBuilders.Contact($"ok-{i}"))).ToList();
        // Each invalid batch also holds a valid item: it must not be stored either.
        var invalid = Enumerable.Range(0, 10).Select(i => step.Admin.PostJsonAsync(path,
            new { items = new object[] { new { contact = new { id = $"bad-{i}" } }, new { contact = new { firstName = "nobody" } } } })).ToList();
        await Task.WhenAll(valid.Concat(invalid));

        foreach (var response in valid.Select(t => t.Result))
        {
            await response.ReadJsonAsync(HttpStatusCode.Accepted);
        }

        foreach (var response in invalid.Select(t => t.Result))
        {
            var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty("/items/1/contact", out _), problem.GetRawText());
        }

        Assert.Equal(60, await CountDeliveriesAsync(step));
        await Eventually.WaitAsync(() => CountDeliveriesAsync(step, "succeeded"), c => c == 60, "every valid delivery succeeded", TimeSpan.FromSeconds(60));
        Assert.Equal(60, Workflow(url).Count);
        Assert.DoesNotContain(Workflow(url), r => r.BodyText.Contains("\"bad-", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task An_execution_to_a_connection_this_node_sends_to_goes_to_its_dispatcher_with_the_accept()
    {
        await using var sent = await SentOnceAsync("h-1");
        var second = (await sent.Step.ExecuteAsync(EngineBuilders.Contact("h-2"))).GetProperty("items")[0].Id();
        var delivered = await DeliveredAsync(sent.Step, second);
        var batch = await sent.Step.ExecuteAsync(new { items = new[] { new { contact = new { id = "h-3" } }, new { contact = new { id = "h-4" } } } });
        foreach (var item in batch.GetProperty("items").EnumerateArray())
        {
            await DeliveredAsync(sent.Step, item.Id());
        }

        Assert.Equal(sent.HandedOff + 3, sent.Dispatcher.HandedOff);
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
        Assert.Equal(1, Fixture.Receiver.Received(sent.Step.Url).Count(r => r.BodyText.Contains("\"h-2\"", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task Ordered_deliveries_are_not_handed_over_with_their_accept()
    {
        await using var sent = await SentOnceAsync("o-1", url => Builders.Connection(url).With("retryPolicy", new { kind = "ordered" }));

        await DeliveredAsync(sent.Step, (await sent.Step.ExecuteAsync(EngineBuilders.Contact("o-2"))).GetProperty("items")[0].Id());

        // One line per connection: the claim, which reads the line, is what may send it.
        Assert.Equal(sent.HandedOff, sent.Dispatcher.HandedOff);
    }

    [SkippableFact]
    public async Task A_request_rolled_back_gives_its_handed_over_room_back_and_nothing_of_it_is_sent()
    {
        await using var sent = await SentOnceAsync("r-first");
        var committer = sent.Node.Factory.Services.GetRequiredService<AcceptCommitter>();
        var options = sent.Node.Factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DispatcherOptions>>().Value;
        List<WebhookDelivery> Rows(params string[] contacts) => [.. contacts.Select(c => sent.DueRow(c, Fixture.Time.GetUtcNow()))];
        var duplicate = sent.DueRow("r-duplicate", Fixture.Time.GetUtcNow());
        duplicate.Id = Guid.Parse(sent.FirstId);

        // On SQLite both in one group (rolled back, then written again with a savepoint each); on PostgreSQL each alone.
        Task<AcceptOutcome> good, failing;
        await using (var writer = Fixture.Provider == "sqlite" ? await WriteLock.TakeAsync(Fixture.Provider, sent.Node.ConnectionString) : null)
        {
            good = committer.CommitAsync(Rows("r-good-1", "r-good-2"), null, CancellationToken.None);
            failing = committer.CommitAsync([.. Rows("r-failing"), duplicate], null, CancellationToken.None);
            if (writer is not null)
            {
                await Eventually.WaitAsync(() => committer.Queued == 2, "two calls handed to the committer");
            }
        }

        Assert.Equal(AcceptOutcome.Started, await good);
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => failing);
        var url = sent.Step.Url;
        await Eventually.WaitAsync(() => Fixture.Receiver.Received(url).Count(r => r.BodyText.Contains("r-good-", StringComparison.Ordinal)) == 2, "the good request's two rows at the receiver");
        await Eventually.WaitAsync(() => Task.FromResult(sent.Dispatcher.FreeSlots), free => free == options.ClaimedLimit, "every slot free again");
        Assert.Equal(options.MaxInFlight, sent.Dispatcher.FreeRequests);
        Assert.Equal(sent.HandedOff + 2, sent.Dispatcher.HandedOff);
        Assert.DoesNotContain(Fixture.Receiver.Received(url), r => r.BodyText.Contains("r-failing", StringComparison.Ordinal) || r.BodyText.Contains("r-duplicate", StringComparison.Ordinal));
    }

    /// <summary>
    /// A node of its own (no other test's rows hold its slots) where no endpoint counts as slow (a
    /// first request that took 100 ms on a busy test machine would otherwise keep its connection
    /// out of the handoff), with a step whose first execution was claimed and delivered: the node
    /// knows the connection's limit, so it may take the next accepts' rows.
    /// </summary>
    private async Task<SentOnce> SentOnceAsync(string contactId, Func<string, Dictionary<string, object?>>? connection = null)
    {
        SkipIfUnavailable();
        var node = await PrivateNode.StartAsync(Fixture, ("Delivery:SlowResponseThreshold", "00:10:00"));
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, connection?.Invoke(url) ?? Builders.Connection(url));
        var first = (await step.ExecuteAsync(EngineBuilders.Contact(contactId))).GetProperty("items")[0].Id();
        await DeliveredAsync(step, first);
        var dispatcher = node.Factory.Services.GetRequiredService<Dispatcher>();
        var accountId = await AccountOfAsync(node, Guid.Parse(first));
        return new SentOnce(node, step, first, accountId, dispatcher, dispatcher.HandedOff);
    }

    /// <summary>The account a delivery on <paramref name="node"/> belongs to (PrivateNode keeps its account's key, not its id).</summary>
    private static async Task<Guid> AccountOfAsync(PrivateNode node, Guid deliveryId)
    {
        await using var db = await node.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();
        return await db.Deliveries.Where(d => d.Id == deliveryId).Select(d => d.AccountId).SingleAsync();
    }

    private static Task<JsonElement> DeliveredAsync(WorkflowStep step, string id) =>
        Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", $"delivery {id} succeeded");

    /// <summary>A step on a node of its own whose first execution was delivered; <see cref="HandedOff"/>: the node's count of rows handed over then.</summary>
    private sealed record SentOnce(PrivateNode Node, WorkflowStep Step, string FirstId, Guid AccountId, Dispatcher Dispatcher, long HandedOff) : IAsyncDisposable
    {
        /// <summary>A row as an execution to the step's active connection writes it: pending, due now.</summary>
        public WebhookDelivery DueRow(string contactId, DateTimeOffset now) =>
            Row(AccountId, Guid.Parse(Step.ConnectionId), Guid.Parse(Step.StepId), contactId, DeliveryStatuses.Pending, now);

        public ValueTask DisposeAsync() => Node.DisposeAsync();
    }

    /// <summary>A delivery row as an execution writes it (held, as for an inactive connection, unless said).</summary>
    private protected static WebhookDelivery Row(Guid accountId, Guid connectionId, Guid stepId, string contactId, string status = DeliveryStatuses.Held, DateTimeOffset? at = null)
    {
        var now = at ?? DateTimeOffset.UtcNow;
        return new WebhookDelivery
        {
            Id = Guid.CreateVersion7(now),
            AccountId = accountId,
            ConnectionId = connectionId,
            WorkflowWebhookId = stepId,
            Status = status,
            PayloadJson = JsonSerializer.Serialize(new { contact = new { id = contactId }, @event = new { }, variables = new { } }),
            ContactId = contactId,
            Identifier = contactId,
            NextAttemptAt = now,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    [SkippableFact]
    public async Task Executions_waiting_for_a_writer_commit_together_in_one_transaction()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        var (commits, requests) = (Committer.Commits, Committer.Requests);
        const int n = 30;

        List<Task<HttpResponseMessage>> calls;
        await using (var writes = await WriteLock.TakeAsync(Fixture.Provider, Fixture.ConnectionString))
        {
            calls = Enumerable.Range(0, n).Select(i => step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact($"grouped-{i}"))).ToList();
            await Eventually.WaitAsync(() => Committer.Queued == n, $"{n} calls handed to the committer");
            Assert.DoesNotContain(calls, c => c.IsCompleted);
        }

        foreach (var call in calls)
        {
            await (await call).ReadJsonAsync(HttpStatusCode.Accepted);
        }

        // Each writer's first transaction waited for the lock; every later call joined the one
        // group the first writer free took next (1 writer on SQLite, 4 on PostgreSQL).
        Assert.Equal(n, Committer.Requests - requests);
        Assert.InRange(Committer.Commits - commits, 1, Committer.Writers + 1);
        Assert.Equal(n, await CountDeliveriesAsync(step));
        await Eventually.WaitAsync(() => Workflow(url).Count == n, "every grouped delivery at the receiver");
    }

    [SkippableFact]
    public async Task A_taken_over_key_or_a_failing_insert_rolls_back_only_its_own_request_in_the_group()
    {
        SkipIfUnavailable();
        // One writer on PostgreSQL too: the calls after the first then wait and form one group.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Database:PostgresAcceptWriters", "1"));
        var committer = node.Factory.Services.GetRequiredService<AcceptCommitter>();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, Builders.Connection(url));
        var stepId = Guid.Parse(step.StepId);
        var protector = node.Factory.Services.GetRequiredService<WebhooksApi.Security.SecretProtector>();
        var existing = Guid.Parse((await step.ExecuteAsync(EngineBuilders.Contact("already-there"))).GetProperty("items")[0].Id());
        var dbFactory = node.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>();
        var accountId = await AccountOfAsync(node, existing);

        var commits = committer.Commits;
        List<WebhookDelivery> Rows(params string[] contacts) => [.. contacts.Select(c => Row(accountId, Guid.Parse(step.ConnectionId), stepId, c))];
        var duplicate = Row(accountId, Guid.Parse(step.ConnectionId), stepId, "duplicate");
        duplicate.Id = existing;

        Task<AcceptOutcome> first, good, takenOver, failing, last;
        await using (var writes = await WriteLock.TakeAsync(Fixture.Provider, node.ConnectionString))
        {
            first = committer.CommitAsync(Rows("g-first"), null, CancellationToken.None);
            good = committer.CommitAsync(Rows("g-good-1", "g-good-2"), null, CancellationToken.None);
            // A key record that no longer holds this claim: what a takeover by another request leaves.
            var lostKey = new WebhooksApi.Http.IdempotencyClaim(Guid.NewGuid(), Fixture.Time.GetUtcNow(), protector);
            takenOver = committer.CommitAsync(Rows("g-taken-over"), new IdempotentAnswer(lostKey, 202, "application/json", [1, 2, 3]), CancellationToken.None);
            failing = committer.CommitAsync([.. Rows("g-failing"), duplicate], null, CancellationToken.None);
            last = committer.CommitAsync(Rows("g-last"), null, CancellationToken.None);
            await Eventually.WaitAsync(() => committer.Queued == 5, "five calls handed to the committer");
        }

        Assert.Equal(AcceptOutcome.Committed, await first);
        Assert.Equal(AcceptOutcome.Committed, await good);
        Assert.Equal(AcceptOutcome.KeyTakenOver, await takenOver);
        // The duplicate primary key, from the database itself (rows are inserted below EF).
        var refused = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => failing);
        Assert.Contains(Fixture.Provider == "sqlite" ? "UNIQUE" : "duplicate key", refused.Message, StringComparison.Ordinal);
        Assert.Equal(AcceptOutcome.Committed, await last);
        Assert.InRange(committer.Commits - commits, 1, 2);

        await using var db = await dbFactory.CreateDbContextAsync();
        var stored = await db.Deliveries.Where(d => d.WorkflowWebhookId == stepId).Select(d => d.ContactId).ToListAsync();
        Assert.Equal(["already-there", "g-first", "g-good-1", "g-good-2", "g-last"], stored.Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task A_batch_is_sent_with_the_steps_fields_and_extra_applied_to_each_item_alone()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url, step: null);
        (await step.Admin.PatchAsync(new Uri($"/v1/workflow-webhooks/{step.StepId}", UriKind.Relative),
            JsonContent.Create(new { fields = new[] { "firstName" }, extra = new Dictionary<string, string> { ["source"] = "crm", ["campaign"] = "spring" } }, options: ApiFixture.Json)))
            .EnsureSuccessStatusCode();

        await step.ExecuteAsync(new
        {
            items = new object[]
            {
                new { contact = new { id = "f-1", email = "F1@Example.com", firstName = "Ana", lastName = "Hidden" }, @event = new { orderId = "o-1" }, variables = new { campaign = "mine", other = 1 } },
                new { contact = new { id = "f-2", phone = "+33100000000", lastName = "Hidden" } },
            },
        });

        await Eventually.WaitAsync(() => Workflow(url).Count == 2, "both items");
        var data = Workflow(url).Select(r => JsonDocument.Parse(r.BodyText).RootElement.GetProperty("data")).OrderBy(d => d.GetProperty("contact").Str("id"), StringComparer.Ordinal).ToList();
        AssertJson("""{"id":"f-1","email":"F1@Example.com","firstName":"Ana"}""", data[0].GetProperty("contact"));
        AssertJson("""{"orderId":"o-1"}""", data[0].GetProperty("event"));
        AssertJson("""{"campaign":"spring","other":1,"source":"crm"}""", data[0].GetProperty("variables"));
        AssertJson("""{"id":"f-2","phone":"+33100000000"}""", data[1].GetProperty("contact"));
        AssertJson("{}", data[1].GetProperty("event"));
        AssertJson("""{"source":"crm","campaign":"spring"}""", data[1].GetProperty("variables"));
    }

    [SkippableFact]
    public async Task A_node_whose_committer_has_stopped_answers_503_and_stores_nothing()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        await using var node = Fixture.CreateFactory(_ => { });
        using var client = node.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", account.AdminKey);
        await (await client.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact("before-stop"))).ReadJsonAsync(HttpStatusCode.Accepted);

        // What the host does last on shutdown, done early: later calls must be refused, not dropped.
        await node.Services.GetRequiredService<AcceptCommitter>().DisposeAsync();
        var refused = await client.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact("after-stop"));

        await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        Assert.True(refused.Headers.RetryAfter is not null);
        Assert.Equal(1, await CountDeliveriesAsync(step));
    }

    /// <summary>Same JSON value (escaping and property order aside).</summary>
    private static void AssertJson(string expected, JsonElement actual) =>
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(expected), System.Text.Json.Nodes.JsonNode.Parse(actual.GetRawText())), $"expected {expected}, got {actual.GetRawText()}");

    protected List<ReceivedRequest> Workflow(string url) =>
        Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("\"workflow.execution\"", StringComparison.Ordinal)).ToList();

    protected async Task<int> CountDeliveriesAsync(WorkflowStep step, string? status = null)
    {
        await using var db = await Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();
        var stepId = Guid.Parse(step.StepId);
        return await db.Deliveries.CountAsync(d => d.WorkflowWebhookId == stepId && (status == null || d.Status == status));
    }
}

[Collection(SqliteCollection.Name)]
public sealed class AcceptGroupCommitTests_Sqlite(SqliteApi fixture) : AcceptGroupCommitTests<SqliteApi>(fixture)
{
    [Fact]
    public async Task A_keyed_execution_whose_key_another_request_took_while_it_waited_to_commit_writes_nothing_and_answers_with_that_request()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        var body = EngineBuilders.Contact("raced");
        (await SendKeyedAsync(step, "k-first", body)).EnsureSuccessStatusCode();
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(Fixture.ConnectionString);
        await connection.OpenAsync();
        async Task<object?> Scalar(string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            return await command.ExecuteScalarAsync();
        }

        // The same request (so the same hash) under another key, planted by "another request".
        var (scope, hash) = ((string)(await Scalar("SELECT scope FROM idempotency_records WHERE key = 'k-first'"))!, (string)(await Scalar("SELECT request_hash FROM idempotency_records WHERE key = 'k-first'"))!);
        await Scalar("BEGIN IMMEDIATE;");
        await Scalar($$"""
            INSERT INTO idempotency_records (id, scope, key, request_hash, status_code, content_type, body, created_at)
            VALUES (X'{{Guid.NewGuid():N}}', '{{scope}}', 'k-raced', '{{hash}}', 202, 'application/json', CAST('{"planted":true}' AS BLOB), 0)
            """);
        var raced = SendKeyedAsync(step, "k-raced", body);
        await Eventually.WaitAsync(() => Committer.Queued == 1, "the raced call handed to the committer");
        await Scalar("COMMIT;");

        var response = await raced;
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True(response.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("{\"planted\":true}", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, await CountDeliveriesAsync(step));
    }

    [Fact]
    public async Task The_dispatchers_writes_wait_with_the_accepts_and_one_that_fails_rolls_back_alone()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        var stepId = Guid.Parse(step.StepId);
        WebhookDelivery New(string contactId) => Row(Guid.Parse(account.Id), Guid.Parse(step.ConnectionId), stepId, contactId);
        var commits = Committer.Commits;

        Task<AcceptOutcome> before, after;
        Task<int> failing, succeeding;
        await using (var writer = await WriteLock.TakeAsync(Fixture.Provider, Fixture.ConnectionString))
        {
            before = Committer.CommitAsync([New("w-accept-before")], null, CancellationToken.None);
            failing = Committer.InTransactionAsync<int>(
                async (db, ct) =>
                {
                    await DeliveryStore.InsertAsync(db, [New("w-failing")], ct);
                    throw new InvalidOperationException("the work failed after writing");
                },
                CancellationToken.None);
            succeeding = Committer.InTransactionAsync((db, ct) => DeliveryStore.InsertAsync(db, [New("w-succeeding")], ct), CancellationToken.None);
            after = Committer.CommitAsync([New("w-accept-after")], null, CancellationToken.None);
            await Eventually.WaitAsync(() => Committer.Queued == 2, "both calls handed to the committer");
            Assert.False(succeeding.IsCompleted);
        }

        Assert.Equal(AcceptOutcome.Committed, await before);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        Assert.Equal("the work failed after writing", error.Message);
        Assert.Equal(1, await succeeding);
        Assert.Equal(AcceptOutcome.Committed, await after);
        Assert.InRange(Committer.Commits - commits, 1, 2);

        await using var read = await Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();
        var stored = await read.Deliveries.Where(d => d.WorkflowWebhookId == stepId).Select(d => d.ContactId).ToListAsync();
        Assert.Equal(["w-accept-after", "w-accept-before", "w-succeeding"], stored.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_writers_prepared_claim_reads_every_field_of_a_delivery_as_EF_does()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        var at = DateTimeOffset.UtcNow;
        // Every column set, so a field the reader forgot (a column added later) shows as a difference.
        var row = Row(Guid.Parse(account.Id), Guid.Parse(step.ConnectionId), Guid.Parse(step.StepId), "every-field");
        row.Ordered = true;
        row.Email = "every@example.com";
        row.Phone = "+33100000000";
        row.AttemptCount = 3;
        row.FirstAttemptAt = at.AddMinutes(-3);
        row.LastAttemptAt = at.AddMinutes(-1);
        row.ClaimToken = Guid.NewGuid();
        row.LockedUntil = at.AddMinutes(2);
        row.LastStatusCode = 503;
        row.LastOutcome = "http_error";
        row.LastError = "Service Unavailable";
        row.ResponseBody = "{\"busy\":true}";
        row.FailureReason = "expired";
        row.CompletedAt = at;
        await using var db = await Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();
        db.Deliveries.Add(row);
        await db.SaveChangesAsync();

        var expected = await db.Deliveries.AsNoTracking().SingleAsync(d => d.Id == row.Id);
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(Fixture.ConnectionString);
        await connection.OpenAsync();
        await using var select = connection.CreateCommand();
        select.CommandText = "SELECT * FROM deliveries WHERE id = $id";
        select.Parameters.AddWithValue("$id", SqliteIds.ToBytes(row.Id));
        await using var reader = await select.ExecuteReaderAsync();
        var read = DeliveryStore.SqliteDeliveryReader(reader);
        Assert.True(await reader.ReadAsync());
        var actual = read(reader);

        foreach (var property in typeof(WebhookDelivery).GetProperties())
        {
            Assert.True(property.GetValue(expected) is not null, $"{property.Name} is not set in the test row");
            Assert.Equal(property.GetValue(expected), property.GetValue(actual));
        }
    }

    [Fact]
    public async Task An_accept_commits_at_once_but_its_caller_is_answered_only_after_the_log_is_synced()
    {
        var (account, step, sync) = await StepAndLogSyncAsync();
        var commits = Committer.Commits;

        using var held = new HeldSync(sync);
        var accept = Committer.CommitAsync([Row(Guid.Parse(account.Id), Guid.Parse(step.ConnectionId), Guid.Parse(step.StepId), "waits-for-the-sync")], null, CancellationToken.None);
        Assert.True(await held.Entered.WaitAsync(TimeSpan.FromSeconds(30)), "a sync of the log to begin");
        // A write of the writer's queued after the accept: once it has committed, the accept's
        // round is long over. Its rows are visible, its caller still waits for the disk.
        await Committer.InTransactionAsync((_, _) => Task.FromResult(0), CancellationToken.None);

        Assert.Equal(commits + 1, Committer.Commits);
        Assert.Equal(2, await CountDeliveriesAsync(step));
        Assert.False(accept.IsCompleted);
        var syncs = sync.Syncs;
        held.Release();

        Assert.Equal(AcceptOutcome.Committed, await accept);
        Assert.True(sync.Syncs > syncs);
    }

    [Fact]
    public async Task A_repeated_key_replays_its_answer_only_once_the_first_request_is_synced()
    {
        var (_, step, sync) = await StepAndLogSyncAsync();
        var body = EngineBuilders.Contact("keyed-sync");

        using var held = new HeldSync(sync);
        var first = SendKeyedAsync(step, "k-sync", body);
        Assert.True(await held.Entered.WaitAsync(TimeSpan.FromSeconds(30)), "a sync of the log to begin");
        var repeat = SendKeyedAsync(step, "k-sync", body);
        // The first request's commit and the repeat's wait for the same log, not yet synced.
        await Eventually.WaitAsync(() => sync.Unsynced == 2, "the repeat waiting for the first request's sync");

        Assert.False(first.IsCompleted);
        Assert.False(repeat.IsCompleted);
        held.Release();

        var answer = await (await first).ReadJsonAsync(HttpStatusCode.Accepted);
        var replayed = await repeat;
        Assert.True(replayed.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(answer.GetRawText(), (await replayed.ReadJsonAsync(HttpStatusCode.Accepted)).GetRawText());
        Assert.Equal(2, await CountDeliveriesAsync(step));
    }

    [Fact]
    public async Task A_failed_log_sync_fails_its_callers_and_later_accepts_commit_with_a_sync_of_their_own()
    {
        // A node of its own: after a failed sync its writer syncs every commit for good.
        await using var node = await PrivateNode.StartAsync(Fixture);
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, Builders.Connection(url));
        await step.ExecuteAsync(EngineBuilders.Contact("before"));
        var committer = node.Factory.Services.GetRequiredService<AcceptCommitter>();
        var sync = Assert.IsType<SqliteLogSync>(committer.LogSync);
        var failures = 1;
        sync.BeforeSync = () =>
        {
            if (Interlocked.Exchange(ref failures, 0) == 1)
            {
                throw new IOException("simulated: the disk refused the sync");
            }
        };

        var failed = await step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact("during"));
        await failed.AssertProblemAsync(HttpStatusCode.InternalServerError);
        Assert.True(sync.Failed);
        var syncs = sync.Syncs;

        await step.ExecuteAsync(EngineBuilders.Contact("after"));
        Assert.Equal(syncs, sync.Syncs);
        // The failed call's rows committed (only their sync failed), as with a commit whose own fsync fails: nothing is lost or doubled.
        await Eventually.WaitAsync(() => Fixture.Receiver.Received(url).Count(r => r.BodyText.Contains("\"workflow.execution\"", StringComparison.Ordinal)) == 3, "the three executions at the receiver");
    }

    /// <summary>A step whose connection is not active (nothing is sent) and the writer's log sync, opened by an execution.</summary>
    private async Task<(TestAccount Account, WorkflowStep Step, SqliteLogSync Sync)> StepAndLogSyncAsync()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        await step.ExecuteAsync(EngineBuilders.Contact("opens-the-writer"));
        return (account, step, Assert.IsType<SqliteLogSync>(Committer.LogSync));
    }

    /// <summary>Holds the log's syncs (each waits on the syncer's thread) until released or disposed.</summary>
    private sealed class HeldSync : IDisposable
    {
        private readonly SqliteLogSync _sync;
        private readonly ManualResetEventSlim _release = new(false);

        public HeldSync(SqliteLogSync sync)
        {
            _sync = sync;
            sync.BeforeSync = () =>
            {
                Entered.Release();
                _release.Wait();
            };
        }

        /// <summary>Released each time a sync begins.</summary>
        public SemaphoreSlim Entered { get; } = new(0);

        public void Release()
        {
            _sync.BeforeSync = null;
            _release.Set();
        }

        public void Dispose()
        {
            Release();
            _release.Dispose();
            Entered.Dispose();
        }
    }
}

[Collection(PostgresCollection.Name)]
public sealed class AcceptGroupCommitTests_Postgres(PostgresApi fixture) : AcceptGroupCommitTests<PostgresApi>(fixture)
{
    [SkippableFact]
    public async Task A_write_of_the_dispatchers_keeps_its_own_transaction_on_PostgreSQL_and_rolls_back_when_it_fails()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint(), activate: false);
        var stepId = Guid.Parse(step.StepId);
        Assert.False(Committer.SharesWriter);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Committer.InTransactionAsync<int>(
            async (db, ct) =>
            {
                await db.WorkflowWebhooks.Where(w => w.Id == stepId).ExecuteUpdateAsync(u => u.SetProperty(w => w.Name, "renamed by a failed write"), ct);
                throw new InvalidOperationException("the work failed after writing");
            },
            CancellationToken.None));
        var renamed = await Committer.InTransactionAsync((db, ct) => db.WorkflowWebhooks.Where(w => w.Id == stepId).ExecuteUpdateAsync(u => u.SetProperty(w => w.Name, "renamed"), ct), CancellationToken.None);

        Assert.Equal("the work failed after writing", error.Message);
        Assert.Equal(1, renamed);
        await using var read = await Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();
        Assert.Equal("renamed", await read.WorkflowWebhooks.Where(w => w.Id == stepId).Select(w => w.Name).SingleAsync());
    }
}

/// <summary>
/// Holds the database's writes until disposed: SQLite's write lock, or on PostgreSQL an
/// exclusive lock on the deliveries table (reads go on, inserts and updates of it wait).
/// </summary>
internal sealed class WriteLock : IAsyncDisposable
{
    private readonly System.Data.Common.DbConnection _connection;

    private WriteLock(System.Data.Common.DbConnection connection) => _connection = connection;

    public static async Task<WriteLock> TakeAsync(string provider, string connectionString)
    {
        System.Data.Common.DbConnection connection = provider == "sqlite"
            ? new Microsoft.Data.Sqlite.SqliteConnection(connectionString)
            : new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var begin = connection.CreateCommand();
        begin.CommandText = provider == "sqlite" ? "BEGIN IMMEDIATE;" : "BEGIN; LOCK TABLE deliveries IN EXCLUSIVE MODE;";
        await begin.ExecuteNonQueryAsync();
        return new WriteLock(connection);
    }

    public async ValueTask DisposeAsync()
    {
        await using (var rollback = _connection.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }

        await _connection.DisposeAsync();
    }
}
