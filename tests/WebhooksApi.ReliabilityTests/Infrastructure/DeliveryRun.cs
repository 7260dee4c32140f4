using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace WebhooksApi.ReliabilityTests.Infrastructure;

/// <summary>
/// One workflow step on an active connection to the receiver, and a client that submits
/// executions the way a careful integrator does: each batch under its own Idempotency-Key, and
/// re-sent with the same key after any answer that is not a 202 (the service was killed
/// mid-request, was not ready, or the database was down), so nothing is accepted twice and
/// nothing the client was told "accepted" (202) is missing.
/// </summary>
public sealed class DeliveryRun(ServiceProcess service, CountingReceiver receiver, string stepId)
{
    /// <summary>Accepted delivery ids (from 202 answers) and the contact each carries.</summary>
    private readonly ConcurrentDictionary<string, string> _accepted = new();
    private int _requests;
    private int _retried;
    private int _unavailable;

    public string StepId => stepId;

    /// <summary>POSTs of executions made, first tries and re-sends together.</summary>
    public int Requests => _requests;

    /// <summary>Re-sends after an answer that was not a 202.</summary>
    public int Retried => _retried;

    /// <summary>503 answers (the service could not store the batch and said so).</summary>
    public int Unavailable => _unavailable;

    public IReadOnlyDictionary<string, string> Accepted => _accepted;

    public static async Task<DeliveryRun> StartAsync(ServiceProcess service, CountingReceiver receiver, object? retryPolicy = null)
    {
        var client = service.Client;
        var connection = new Dictionary<string, object?>
        {
            ["title"] = "crash receiver",
            ["url"] = receiver.Url,
            ["bodyFormat"] = "json",
            ["bodyTemplate"] = "{\"contactId\": \"{{contact.id}}\"}",
            ["maxConcurrency"] = 64,
        };
        if (retryPolicy is not null)
        {
            connection["retryPolicy"] = retryPolicy;
        }

        var created = await ReadAsync(await client.PostAsJsonAsync("/v1/connections", connection), HttpStatusCode.Created);
        var connectionId = created.GetProperty("id").GetString()!;
        var test = await ReadAsync(await client.PostAsJsonAsync($"/v1/connections/{connectionId}/test", new { }), HttpStatusCode.OK);
        Assert.True(test.GetProperty("outcome").GetString() == "ok", $"test send: {test}");
        await ReadAsync(await client.PostAsync(new Uri($"/v1/connections/{connectionId}/activate", UriKind.Relative), null), HttpStatusCode.OK);
        var step = await ReadAsync(
            await client.PostAsJsonAsync("/v1/workflow-webhooks", new { name = "crash_step", workflowId = "wf-crash", stepId = "s1", connectionId }),
            HttpStatusCode.Created);
        return new DeliveryRun(service, receiver, step.GetProperty("id").GetString()!);
    }

    /// <summary>Submits executions c-{prefix}-{0..count} in batches, each until it is accepted.</summary>
    public async Task SubmitAsync(string prefix, int count, int batchSize, TimeSpan deadline)
    {
        for (var start = 0; start < count; start += batchSize)
        {
            var items = Enumerable.Range(start, Math.Min(batchSize, count - start))
                .Select(i => new { contact = new { id = $"c-{prefix}-{i}", email = $"c{i}@example.com" }, @event = new { orderId = i } })
                .ToList();
            await SubmitBatchAsync($"{prefix}-{start}", items, deadline);
        }
    }

    private async Task SubmitBatchAsync(string key, object items, TimeSpan deadline)
    {
        var until = DateTime.UtcNow + deadline;
        var last = "nothing yet";
        for (var attempt = 1; DateTime.UtcNow < until; attempt++)
        {
            Interlocked.Increment(ref _requests);
            if (attempt > 1)
            {
                Interlocked.Increment(ref _retried);
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/workflow-webhooks/{stepId}/executions") { Content = JsonContent.Create(new { items }) };
                request.Headers.Add("Idempotency-Key", key);
                using var response = await service.Client.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Accepted:
                        using (var body = JsonDocument.Parse(text))
                        {
                            foreach (var item in body.RootElement.GetProperty("items").EnumerateArray())
                            {
                                _accepted[item.GetProperty("id").GetString()!] = key;
                            }
                        }

                        return;
                    case HttpStatusCode.ServiceUnavailable:
                        // Refused, not lost: it must say so as a problem with Retry-After.
                        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                        Assert.True(response.Headers.RetryAfter is not null, $"503 without Retry-After: {text}");
                        Interlocked.Increment(ref _unavailable);
                        last = "503";
                        break;
                    case HttpStatusCode.Conflict:
                        // The first try of this key is still running, or was cut by a kill and not yet taken over.
                        last = "409: " + text;
                        break;
                    default:
                        Assert.Fail($"POST executions ({key}) answered {(int)response.StatusCode}: {text}\n{service.LogTail()}");
                        break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // The service died under the request (or is restarting): the answer is unknown, so ask again with the same key.
                last = e.GetType().Name + ": " + e.Message;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"Batch {key} was not accepted within {deadline}; last answer: {last}\n{service.LogTail()}");
    }

    public async Task<JsonElement> StatsAsync() =>
        await ReadAsync(await service.Client.GetAsync(new Uri($"/v1/workflow-webhooks/{stepId}/stats", UriKind.Relative)), HttpStatusCode.OK);

    /// <summary>Waits until every accepted delivery has finished (none pending, delivering or held).</summary>
    public async Task WaitUntilDoneAsync(TimeSpan deadline)
    {
        try
        {
            await WaitAsync(deadline);
        }
        catch (TimeoutException e)
        {
            var delivering = await ReadAsync(
                await service.Client.GetAsync(new Uri($"/v1/deliveries?status=delivering&workflowWebhookId={stepId}&limit=500", UriKind.Relative)), HttpStatusCode.OK);
            throw new TimeoutException(
                $"{e.Message}\n{delivering.GetProperty("items").GetArrayLength()} delivering, e.g. {(delivering.GetProperty("items").GetArrayLength() > 0 ? delivering.GetProperty("items")[0] : default)}\n" +
                $"{await AttemptsByOutcomeAsync()}\n{service.LogTail(40)}", e);
        }
    }

    /// <summary>
    /// Polls two cheap indexed lists (anything pending or delivering left?) twice a second; the
    /// stats query (percentiles over every attempt) polled back to back slowed the service it measured.
    /// </summary>
    private Task<bool> WaitAsync(TimeSpan deadline) =>
        Eventually.WaitAsync(
            async () =>
            {
                try
                {
                    foreach (var status in (string[])["pending", "delivering", "held"])
                    {
                        var page = await ReadAsync(
                            await service.Client.GetAsync(new Uri($"/v1/deliveries?status={status}&workflowWebhookId={stepId}&limit=1", UriKind.Relative)), HttpStatusCode.OK);
                        if (page.GetProperty("items").GetArrayLength() > 0)
                        {
                            return false;
                        }
                    }

                    return true;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            done => done,
            $"all {_accepted.Count} accepted deliveries to finish (receiver has {receiver.Distinct} distinct, {receiver.Requests} requests)",
            deadline,
            TimeSpan.FromMilliseconds(500));

    /// <summary>
    /// What the issue asks, checked at the receiver: every accepted delivery arrived at least
    /// once; a contact that arrived more than once always carried the same webhook-id (a
    /// re-send, never a second delivery); nothing arrived that was not accepted; nothing is
    /// left delivering; and the stats count exactly what arrived.
    /// </summary>
    public async Task<Summary> VerifyAsync(int expected, bool receiverWentAway = false)
    {
        Assert.Equal(expected, _accepted.Count);
        var missing = _accepted.Keys.Where(id => !receiver.ByWebhookId.ContainsKey(WebhookId(id))).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} accepted deliveries never arrived, e.g. {string.Join(", ", missing.Take(5))}");

        var split = receiver.WebhookIdsByContact.Where(c => c.Value.Count != 1).ToList();
        Assert.True(split.Count == 0, $"{split.Count} contacts arrived under several webhook-ids (accepted twice), e.g. {string.Join("; ", split.Take(3).Select(c => $"{c.Key}: {string.Join(",", c.Value.Keys)}"))}");
        var acceptedWebhookIds = _accepted.Keys.Select(WebhookId).ToHashSet();
        var strangers = receiver.ByWebhookId.Keys.Where(id => !acceptedWebhookIds.Contains(id)).ToList();
        Assert.True(strangers.Count == 0, $"{strangers.Count} deliveries arrived that no 202 accepted, e.g. {string.Join(", ", strangers.Take(5))}");

        var delivering = await ReadAsync(
            await service.Client.GetAsync(new Uri($"/v1/deliveries?status=delivering&workflowWebhookId={stepId}", UriKind.Relative)), HttpStatusCode.OK);
        Assert.Equal(0, delivering.GetProperty("items").GetArrayLength());

        var stats = await StatsAsync();
        Assert.Equal(expected, stats.GetProperty("deliveries").GetInt32());
        Assert.Equal(receiver.Distinct, stats.GetProperty("accepted").GetInt32());
        Assert.Equal(0, stats.GetProperty("pending").GetInt32());
        Assert.Equal(0, stats.GetProperty("failed").GetInt32());
        // Each recorded successful attempt is a request that arrived; a request whose result the
        // kill cut off arrived but was not recorded, and was sent again.
        var attempts = stats.GetProperty("attempts").GetInt32();
        Assert.InRange(attempts, expected, receiverWentAway ? int.MaxValue : (int)receiver.Requests);
        return new Summary(expected, receiver.Requests, receiver.Requests - receiver.Distinct, attempts);
    }

    /// <summary>The logged attempts of this step by outcome, and how many were retries (attempt 2 or later).</summary>
    public async Task<string> AttemptsByOutcomeAsync()
    {
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var retries = 0;
        string? cursor = null;
        do
        {
            var url = $"/v1/logs?workflowWebhookId={stepId}&limit=500" + (cursor is null ? string.Empty : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var page = JsonDocument.Parse(await (await service.Client.GetAsync(new Uri(url, UriKind.Relative))).Content.ReadAsStringAsync());
            foreach (var attempt in page.RootElement.GetProperty("items").EnumerateArray())
            {
                var outcome = attempt.GetProperty("outcome").GetString()!;
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                retries += attempt.GetProperty("attempt").GetInt32() > 1 ? 1 : 0;
            }

            cursor = page.RootElement.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        return $"attempts by outcome: {string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}"))}; {retries} were attempt 2 or later";
    }

    public static string WebhookId(string deliveryId) => "msg_" + Guid.Parse(deliveryId).ToString("N");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {text}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }
}

/// <summary>What a run saw: deliveries accepted, requests at the receiver, re-sends, attempts logged.</summary>
public sealed record Summary(int Accepted, long Received, long Duplicates, int Attempts);
