using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>A connection (tested and activated unless asked otherwise) with a workflow step bound to it.</summary>
internal sealed record BenchStep(string ConnectionId, string StepId, string Url);

/// <summary>The calls the scenarios make, over real HTTP with the admin key.</summary>
internal static class ServiceApi
{
    public static async Task<BenchStep> CreateStepAsync(
        this HttpClient client, string url, int maxConcurrency = 100, JsonObject? retryPolicy = null, bool activate = true, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject
        {
            ["title"] = "bench " + url,
            ["url"] = url,
            ["maxConcurrency"] = maxConcurrency,
        };
        if (retryPolicy is not null)
        {
            body["retryPolicy"] = retryPolicy;
        }

        var connection = await client.SendJsonAsync(HttpMethod.Post, "/v1/connections", body, HttpStatusCode.Created, cancellationToken);
        var connectionId = connection["id"]!.GetValue<string>();
        if (activate)
        {
            await client.ActivateAsync(connectionId, cancellationToken);
        }

        var step = await client.SendJsonAsync(
            HttpMethod.Post,
            "/v1/workflow-webhooks",
            new JsonObject { ["name"] = "bench", ["workflowId"] = "wf-" + connectionId[..8], ["stepId"] = "s-" + connectionId, ["connectionId"] = connectionId },
            HttpStatusCode.Created,
            cancellationToken);
        return new BenchStep(connectionId, step["id"]!.GetValue<string>(), url);
    }

    /// <summary>A successful test send, then activate (the API's rule for `active`).</summary>
    public static async Task ActivateAsync(this HttpClient client, string connectionId, CancellationToken cancellationToken)
    {
        var test = await client.SendJsonAsync(HttpMethod.Post, $"/v1/connections/{connectionId}/test", new JsonObject(), HttpStatusCode.OK, cancellationToken);
        if (test["outcome"]?.GetValue<string>() != "ok")
        {
            throw new InvalidOperationException($"Test send of {connectionId} did not succeed: {test.ToJsonString()}");
        }

        await client.SendJsonAsync(HttpMethod.Post, $"/v1/connections/{connectionId}/activate", null, HttpStatusCode.OK, cancellationToken);
    }

    /// <summary>A batch of executions as the workflow engine sends them: {"items": [...]}.</summary>
    public static string ExecutionBatch(int first, int count)
    {
        var json = new StringBuilder(count * 110).Append("{\"items\":[");
        for (var i = first; i < first + count; i++)
        {
            if (i > first)
            {
                json.Append(',');
            }

            var contact = Contact(i);
            json.Append("{\"contact\":{\"id\":\"c").Append(contact).Append("\",\"email\":\"c").Append(contact)
                .Append("@example.com\",\"firstName\":\"Ana\"},\"event\":{\"orderId\":").Append(i).Append(",\"total\":42.5}}");
        }

        return json.Append("]}").ToString();
    }

    public static string SingleExecution(int i)
    {
        var contact = Contact(i);
        return "{\"contact\":{\"id\":\"c" + contact + "\",\"email\":\"c" + contact + "@example.com\",\"firstName\":\"Ana\"},\"event\":{\"orderId\":" + i + ",\"total\":42.5}}";
    }

    /// <summary>The contacts executions are for.</summary>
    public const int Contacts = 50_000;

    /// <summary>
    /// The contact of execution <paramref name="i"/>: one of <see cref="Contacts"/>, scattered
    /// (Knuth's multiplicative hash), as a workflow's contacts reach a step in no key order.
    /// </summary>
    /// <remarks>
    /// Until 2026-12-01 execution i was for contact i, so each batch's contact ids and emails
    /// ("c1000", "c1001", ...) went into the indexes by contact, email and identifier next to one
    /// another, a few pages per commit. Scattered, each row lands on a page of its own in each of
    /// them: 34% fewer deliveries/s in alternated throughput runs of the same code (3,354-3,639
    /// against 4,688-5,478), and that is what real traffic costs.
    /// </remarks>
    public static long Contact(int i) => (i * 2_654_435_761L) % Contacts;

    /// <summary>POSTs executions (with the Idempotency-Key given, if any); returns the accepted delivery ids.</summary>
    public static async Task<string[]> ExecuteAsync(this HttpClient client, string stepId, string json, CancellationToken cancellationToken, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/v1/workflow-webhooks/{stepId}/executions", UriKind.Relative))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        using var response = await client.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"executions answered {(int)response.StatusCode}: {text[..Math.Min(text.Length, 500)]}");
        }

        using var document = JsonDocument.Parse(text);
        return [.. document.RootElement.GetProperty("items").EnumerateArray().Select(item => item.GetProperty("id").GetString()!)];
    }

    public static async Task<JsonNode> SendJsonAsync(this HttpClient client, HttpMethod method, string url, JsonNode? body, HttpStatusCode expected, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(url, UriKind.Relative));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{method} {url} answered {(int)response.StatusCode}, expected {(int)expected}: {text[..Math.Min(text.Length, 500)]}");
        }

        return string.IsNullOrEmpty(text) ? new JsonObject() : JsonNode.Parse(text)!;
    }
}
