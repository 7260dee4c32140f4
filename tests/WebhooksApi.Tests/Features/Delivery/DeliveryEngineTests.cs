using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Delivery;

public abstract class DeliveryEngineTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>The receiver paths get the test send too; engine assertions look at workflow requests only.</summary>
    protected List<ReceivedRequest> Workflow(string url) =>
        Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("\"workflow.execution\"", StringComparison.Ordinal)).ToList();

    [SkippableFact]
    public async Task An_execution_is_delivered_at_once_without_waiting_for_a_poll()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);

        var accepted = await step.ExecuteAsync(EngineBuilders.Contact("c-1"));
        var id = accepted.GetProperty("items")[0].Id();
        Assert.Equal(1, accepted.GetProperty("pending").GetInt32());

        // The test clock never moves here: only the in-process signal can have started the attempt.
        var delivered = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "delivery");
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
        var arrived = Assert.Single(Workflow(url));
        Assert.Equal(delivered.Str("webhookId"), arrived.Header("webhook-id"));
        var body = JsonDocument.Parse(arrived.BodyText).RootElement;
        Assert.Equal("c-1", body.GetProperty("data").GetProperty("contact").Str("id"));
    }

    [SkippableFact]
    public async Task Each_delivery_renders_its_own_accounts_id_and_name()
    {
        // Two accounts' deliveries in flight together may share a claim: each body must carry its own account.
        SkipIfUnavailable();
        var accounts = new[] { await Fixture.CreateAccountAsync("Acme Retail"), await Fixture.CreateAccountAsync("Globex Travel") };
        var sent = new List<(TestAccount Account, string Url, string Id)>();
        foreach (var account in accounts)
        {
            var url = Fixture.Receiver.NewEndpoint();
            var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("bodyTemplate", "{\"contact\": \"{{contact.id}}\", \"account\": \"{{account.name}}\", \"accountId\": \"{{account.id}}\"}"));
            sent.Add((account, url, (await step.ExecuteAsync(EngineBuilders.Contact("acct-1"))).GetProperty("items")[0].Id()));
        }

        foreach (var (account, url, _) in sent)
        {
            // The template replaces the envelope, so the execution is told from the activation's test send by its contact.
            var arrived = await Eventually.WaitAsync(
                () => Task.FromResult(Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("acct-1", StringComparison.Ordinal)).ToList()), r => r.Count == 1, "the delivery");
            var body = JsonDocument.Parse(arrived[0].BodyText).RootElement;
            Assert.Equal(account == accounts[0] ? "Acme Retail" : "Globex Travel", body.Str("account"));
            Assert.Equal(account.Id, body.Str("accountId"));
        }
    }

    [SkippableFact]
    public async Task Another_accounts_step_an_unknown_id_or_a_malformed_one_is_a_404_and_nothing_is_accepted()
    {
        var account = await NewAccountAsync();
        var other = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var theirUrl = Fixture.Receiver.NewEndpoint();
        var theirs = await other.ActiveStepAsync(theirUrl);

        foreach (var id in new[] { theirs.StepId, Guid.NewGuid().ToString(), "not-a-step-id" })
        {
            var response = await step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{id}/executions", EngineBuilders.Contact("intruder-1"));
            await response.AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        }

        // Their own call still goes through, and it is the only delivery their step has.
        var accepted = await theirs.ExecuteAsync(EngineBuilders.Contact("owner-1"));
        await Eventually.WaitAsync(() => theirs.DeliveryAsync(accepted.GetProperty("items")[0].Id()), d => d.Str("status") == "succeeded", "their delivery");
        var arrived = Assert.Single(Workflow(theirUrl));
        Assert.Contains("owner-1", arrived.BodyText, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_batch_is_accepted_whole_and_each_item_is_delivered_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        var items = Enumerable.Range(0, 300).Select(i => new { contact = new { id = $"c-{i}" }, @event = new { n = i } }).ToArray();

        var accepted = await step.ExecuteAsync(new { items });

        Assert.Equal(300, accepted.GetProperty("items").GetArrayLength());
        await Eventually.WaitAsync(() => Workflow(url).Count >= 300, "300 deliveries");
        var ids = Workflow(url).Select(r => r.Header("webhook-id")).ToList();
        Assert.Equal(300, ids.Distinct().Count());
    }

    [SkippableFact]
    public async Task A_contact_without_identifiers_is_a_400_naming_the_item()
    {
        var account = await NewAccountAsync();
        var step = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        var response = await step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions",
            new { items = new object[] { new { contact = new { id = "ok" } }, new { contact = new { firstName = "nobody" } } } });
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("/items/1/contact", out _), problem.GetRawText());
    }

    [SkippableFact]
    public async Task Executions_for_a_disabled_connection_are_skipped_and_for_an_untested_one_held_until_it_is_active()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url, activate: false);

        var held = await step.ExecuteAsync(EngineBuilders.Contact("h-1"));
        Assert.Equal("held", held.GetProperty("items")[0].Str("status"));
        var heldId = held.GetProperty("items")[0].Id();

        await step.Admin.TestConnectionAsync(step.ConnectionId);
        (await step.Admin.ActionAsync(step.ConnectionId, "activate")).EnsureSuccessStatusCode();
        await Eventually.WaitAsync(() => step.DeliveryAsync(heldId), d => d.Str("status") == "succeeded", "held delivery resumed");

        (await step.Admin.ActionAsync(step.ConnectionId, "disable")).EnsureSuccessStatusCode();
        var skipped = await step.ExecuteAsync(EngineBuilders.Contact("s-1"));
        Assert.Equal(1, skipped.GetProperty("skipped").GetInt32());
        Assert.Equal("skipped", (await step.DeliveryAsync(skipped.GetProperty("items")[0].Id())).Str("status"));
        Assert.Single(Workflow(url));
    }

    [SkippableFact]
    public async Task Wait_true_returns_the_parsed_response_of_a_data_source_step()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(ctx => ctx.Response.WriteAsync("{\"promoCode\":\"SAVE-42\"}"));
        var step = await account.ActiveStepAsync(url, step: null);
        (await step.Admin.PatchAsync(new Uri($"/v1/workflow-webhooks/{step.StepId}", UriKind.Relative),
            new StringContent("{\"captureResponse\": true}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

        var response = await step.Admin.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions?wait=true", EngineBuilders.Contact("w-1"));
        var delivery = await response.ReadJsonAsync();

        Assert.Equal("succeeded", delivery.Str("status"));
        Assert.Equal("SAVE-42", delivery.GetProperty("lastResponse").GetProperty("json").Str("promoCode"));
        Assert.Equal("SAVE-42", (await step.DeliveryAsync(delivery.Id())).GetProperty("lastResponse").GetProperty("json").Str("promoCode"));
    }

    [SkippableFact]
    public async Task A_repeated_execution_with_the_same_idempotency_key_is_accepted_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var step = await account.ActiveStepAsync(url);
        async Task<JsonElement> Send()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{step.StepId}/executions")
            {
                Content = System.Net.Http.Json.JsonContent.Create(EngineBuilders.Contact("i-1"), options: ApiFixture.Json),
            };
            request.Headers.Add("Idempotency-Key", "exec-1");
            return await (await step.Admin.SendAsync(request)).ReadJsonAsync(HttpStatusCode.Accepted);
        }

        var first = await Send();
        var second = await Send();
        Assert.Equal(first.GetRawText(), second.GetRawText());
        await Eventually.WaitAsync(() => Workflow(url).Count >= 1, "the delivery");
        Assert.Single(Workflow(url));
    }

    [SkippableFact]
    public async Task A_connection_never_has_more_requests_in_flight_than_its_limit()
    {
        var account = await NewAccountAsync();
        var inFlight = 0;
        var peak = 0;
        var url = Fixture.Receiver.NewEndpoint(async ctx =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref peak, now);
            await Task.Delay(30);
            Interlocked.Decrement(ref inFlight);
        });
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("maxConcurrency", 2));
        peak = 0;

        await step.ExecuteAsync(new { items = Enumerable.Range(0, 20).Select(i => new { contact = new { id = $"p-{i}" } }).ToArray() });

        await Eventually.WaitAsync(() => Workflow(url).Count >= 20, "20 deliveries");
        Assert.InRange(peak, 1, 2);
    }

    [SkippableFact]
    public async Task Accepts_hand_a_fast_connection_more_rows_than_requests_in_flight_and_never_send_more_at_once()
    {
        SkipIfUnavailable();
        // Two slots and two requests in flight; 32 deep slots, of which a connection known to be
        // fast may take rows up to its limit (2) plus a queue (1) plus an eighth of them (4): 7.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:MaxInFlight", "2"), ("Delivery:MaxClaimed", "34"));
        var dispatcher = node.Factory.Services.GetRequiredService<WebhooksApi.Delivery.Dispatcher>();
        var held = new HeldRequests();
        var holding = false;
        async Task HoldAsync(HttpContext context)
        {
            if (Volatile.Read(ref holding))
            {
                await held.HoldAsync();
            }

            await context.Response.WriteAsync("{}");
        }

        // Each connection delivers once first: claimed (the node learns its limit) and measured fast.
        var steps = new List<WorkflowStep>();
        for (var c = 0; c < 2; c++)
        {
            var url = Fixture.Receiver.NewEndpoint(HoldAsync);
            var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("maxConcurrency", 2));
            var first = (await step.ExecuteAsync(EngineBuilders.Contact($"first-{c}"))).GetProperty("items")[0].Id();
            await Eventually.WaitAsync(() => step.DeliveryAsync(first), d => d.Str("status") == "succeeded", "the first delivery");
            steps.Add(step);
        }

        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeSlots), free => free == 34, "the first deliveries' slots free again");
        Volatile.Write(ref holding, true);
        var sent = new List<(WorkflowStep Step, string Id)>();
        foreach (var step in steps)
        {
            var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, 10).Select(i => new { contact = new { id = $"held-{i}" } }).ToArray() });
            sent.AddRange(accepted.GetProperty("items").EnumerateArray().Select(i => (step, i.Id())));
        }

        // Seven rows of each accept handed over: the first connection's first two in the two
        // slots, the other twelve in deep slots; six left for a claim.
        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeSlots), free => free == 34 - 14, "fourteen rows held by the node");
        Assert.Equal(32 - 12, dispatcher.FreeDeepSlots);
        await Eventually.WaitAsync(() => Task.FromResult(held.Open), n => n == 2, "two requests at the receivers");
        Assert.Equal(0, dispatcher.FreeRequests);

        held.Release();
        foreach (var (step, id) in sent)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "every delivery");
        }

        // Each connection's gate would have let two through: four at once without the node's limit.
        Assert.Equal(2, held.Peak);
        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeSlots), free => free == 34, "every slot free again");
        Assert.Equal(32, dispatcher.FreeDeepSlots);
        Assert.Equal(2, dispatcher.FreeRequests);
    }

    [SkippableFact]
    public async Task A_fast_connections_backlog_is_claimed_past_its_queue_into_deep_slots()
    {
        SkipIfUnavailable();
        // Eight slots and eight requests in flight; 32 deep slots. A connection (limit 2) takes
        // its limit plus a queue of one from a claim into the slots and, known to be fast, more
        // from a deep claim: its limit plus an eighth of the deep slots (4) at a time.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:MaxInFlight", "8"), ("Delivery:MaxClaimed", "40"));
        var dispatcher = node.Factory.Services.GetRequiredService<WebhooksApi.Delivery.Dispatcher>();
        var held = new HeldRequests();
        const int Answer = 0, Gone = 1, Hold = 2;
        var mode = Answer;
        async Task EndpointAsync(HttpContext context)
        {
            // Executions only: the test send that activating the connection again makes is answered.
            using var reader = new StreamReader(context.Request.Body);
            if ((await reader.ReadToEndAsync()).Contains("\"workflow.execution\"", StringComparison.Ordinal))
            {
                switch (Volatile.Read(ref mode))
                {
                    case Gone:
                        context.Response.StatusCode = 410;
                        return;
                    case Hold:
                        await held.HoldAsync();
                        break;
                }
            }

            await context.Response.WriteAsync("{}");
        }

        var url = Fixture.Receiver.NewEndpoint(EndpointAsync);
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("maxConcurrency", 2));
        var first = (await step.ExecuteAsync(EngineBuilders.Contact("first"))).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => step.DeliveryAsync(first), d => d.Str("status") == "succeeded", "the first delivery");

        // A quick 410 stops the connection (it stays known to answer fast); what it is sent now is held.
        Volatile.Write(ref mode, Gone);
        var ids = new List<string> { (await step.ExecuteAsync(EngineBuilders.Contact("gone"))).GetProperty("items")[0].Id() };
        await Eventually.WaitAsync(() => step.DeliveryAsync(ids[0]), d => d.Str("status") == "held", "the connection stopped by its 410");
        var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, 20).Select(i => new { contact = new { id = $"backlog-{i}" } }).ToArray() });
        ids.AddRange(accepted.GetProperty("items").EnumerateArray().Select(i => i.Id()));
        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeSlots), free => free == 40, "every slot free before the backlog is let go");
        Volatile.Write(ref mode, Hold);
        (await step.Admin.ActionAsync(step.ConnectionId, "activate")).EnsureSuccessStatusCode();

        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeDeepSlots), free => free < 32, "rows of the backlog claimed into deep slots");
        await Eventually.WaitAsync(() => Task.FromResult(held.Open), n => n == 2, "two requests at the receiver");
        Assert.Equal(8 - 2, dispatcher.FreeRequests);

        held.Release();
        foreach (var id in ids)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "every delivery of the backlog");
        }

        Assert.Equal(2, held.Peak);
        await Eventually.WaitAsync(() => Task.FromResult(dispatcher.FreeSlots), free => free == 40, "every slot free again");
        Assert.Equal(32, dispatcher.FreeDeepSlots);
        Assert.Equal(8, dispatcher.FreeRequests);
    }

    [SkippableFact]
    public async Task A_connection_that_has_not_answered_yet_is_sent_one_row_until_it_does()
    {
        SkipIfUnavailable();
        // A threshold no held request reaches: the connection is measured fast once it answers.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:MaxInFlight", "64"), ("Delivery:SlowResponseThreshold", "01:00:00"));
        var held = new HeldRequests();
        async Task HoldAsync(HttpContext context)
        {
            // Executions only: the test send of activation is answered.
            using var reader = new StreamReader(context.Request.Body);
            if ((await reader.ReadToEndAsync()).Contains("\"workflow.execution\"", StringComparison.Ordinal))
            {
                await held.HoldAsync();
            }

            await context.Response.WriteAsync("{}");
        }

        var url = Fixture.Receiver.NewEndpoint(HoldAsync);
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("maxConcurrency", 10));
        var other = Fixture.Receiver.NewEndpoint();
        var otherStep = await node.ActiveStepAsync(other, Builders.Connection(other));
        static object Contacts(string prefix, int count) => new { items = Enumerable.Range(0, count).Select(i => new { contact = new { id = $"{prefix}-{i}" } }).ToArray() };
        static List<string> Ids(JsonElement accepted) => [.. accepted.GetProperty("items").EnumerateArray().Select(i => i.Id())];

        // Three rows at once, under its limit (10) and queue (8): the claim takes one.
        var ids = Ids(await step.ExecuteAsync(Contacts("first", 3)));
        await Eventually.WaitAsync(() => Task.FromResult(held.Open), n => n == 1, "the first request at the receiver");

        // Until it answers, neither an accept hands it rows nor a claim takes more: not even the
        // claim that takes the other connection's row, accepted after all of these.
        ids.AddRange(Ids(await step.ExecuteAsync(Contacts("more", 5))));
        var otherId = (await otherStep.ExecuteAsync(EngineBuilders.Contact("other"))).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => otherStep.DeliveryAsync(otherId), d => d.Str("status") == "succeeded", "the other connection's delivery");
        var statuses = new List<string>();
        foreach (var id in ids)
        {
            statuses.Add((await step.DeliveryAsync(id)).Str("status"));
        }

        Assert.Equal(1, statuses.Count(s => s == "delivering"));
        Assert.Equal(ids.Count - 1, statuses.Count(s => s == "pending"));
        Assert.Equal(1, held.Open);

        // Answered (and measured fast), it gets the rest.
        held.Release();
        foreach (var id in ids)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "succeeded", "every delivery");
        }
    }

    [SkippableFact]
    public async Task A_row_whose_template_failed_counts_as_its_connections_first_answer()
    {
        SkipIfUnavailable();
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:MaxInFlight", "64"), ("Delivery:SlowResponseThreshold", "01:00:00"));
        var held = new HeldRequests();
        var holding = new TaskCompletionSource();
        async Task HoldAsync(HttpContext context)
        {
            // Executions only: the test send of activation is answered.
            if (holding.Task.IsCompleted)
            {
                await held.HoldAsync();
            }

            await context.Response.WriteAsync("{}");
        }

        var url = Fixture.Receiver.NewEndpoint(HoldAsync);
        // Valid JSON for the activation's sample contact and any other, not for a VIP.
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("maxConcurrency", 10)
            .With("bodyTemplate", "{\"vip\": {{#if contact.vip}}yes{{else}}false{{/if}}}"));
        holding.SetResult();

        // Its first row on this node fails to render: no request, no response time.
        var vip = (await step.ExecuteAsync(new { contact = new { id = "vip-1", vip = true } })).GetProperty("items")[0].Id();
        var failed = await Eventually.WaitAsync(() => step.DeliveryAsync(vip), d => d.Str("status") == "failed", "the template error");
        Assert.Equal("template_error", failed.Str("failureReason"));

        // That row held its slot for no time, so the connection is known (fast), not waiting for a
        // first answer: five rows under its limit go out together, not one until an answer.
        var accepted = await step.ExecuteAsync(new { items = Enumerable.Range(0, 5).Select(i => new { contact = new { id = $"plain-{i}" } }).ToArray() });
        await Eventually.WaitAsync(() => Task.FromResult(held.Open), n => n == 5, "five requests open at the receiver at once");

        held.Release();
        foreach (var item in accepted.GetProperty("items").EnumerateArray())
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(item.Id()), d => d.Str("status") == "succeeded", "every plain delivery");
        }
    }

    /// <summary>Requests an endpoint holds until released, counted: how many are open now, and the most at once.</summary>
    private sealed class HeldRequests
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _open;
        private int _peak;

        public int Open => Volatile.Read(ref _open);

        public int Peak => Volatile.Read(ref _peak);

        public void Release() => _release.SetResult();

        public async Task HoldAsync()
        {
            InterlockedMax(ref _peak, Interlocked.Increment(ref _open));
            await _release.Task;
            Interlocked.Decrement(ref _open);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

[Collection(SqliteCollection.Name)]
public sealed class DeliveryEngineTests_Sqlite(SqliteApi fixture) : DeliveryEngineTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class DeliveryEngineTests_Postgres(PostgresApi fixture) : DeliveryEngineTests<PostgresApi>(fixture);
