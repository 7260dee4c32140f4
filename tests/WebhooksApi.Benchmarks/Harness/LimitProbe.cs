using System.Diagnostics;
using System.Text;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// The ceiling: a bare HttpClient posting a delivery-sized JSON body (with Standard Webhooks-sized
/// headers) to the receiver with a fixed concurrency, nothing else. What the service achieves is
/// judged against this figure from the same run.
/// </summary>
internal static class LimitProbe
{
    /// <summary>Requests in flight: the dispatcher's, for the throughput scenario's connections together.</summary>
    public const int Concurrency = ThroughputShape.Connections * ThroughputShape.MaxConcurrency;

    public static readonly string Body = """{"contact":{"id":"c1234","email":"c1234@example.com","firstName":"Ana"},"event":{"orderId":1234,"total":42.5},"variables":{}}""";

    public static async Task<double> RequestsPerSecondAsync(Uri url, int count, CancellationToken cancellationToken)
    {
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        // Warm the pool so connection setup is not part of the ceiling.
        await RunAsync(client, url, Math.Min(count, Concurrency * 4), cancellationToken);
        var clock = Stopwatch.StartNew();
        await RunAsync(client, url, count, cancellationToken);
        return count / clock.Elapsed.TotalSeconds;
    }

    private static async Task RunAsync(HttpClient client, Uri url, int count, CancellationToken cancellationToken)
    {
        var next = -1;
        var workers = Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(Body, Encoding.UTF8, "application/json") };
                request.Headers.Add("webhook-id", "msg_019ad2c0a1b27c3d8e4f5a6b7c8d9e0f");
                request.Headers.Add("webhook-timestamp", "1764460800");
                request.Headers.Add("webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=");
                using var response = await client.SendAsync(request, cancellationToken);
                response.EnsureSuccessStatusCode();
            }
        });
        await Task.WhenAll(workers);
    }
}

/// <summary>How the throughput scenario spreads its work (the limit probe uses the same concurrency).</summary>
internal static class ThroughputShape
{
    public const int Connections = 4;
    public const int MaxConcurrency = 32;
    public const int BatchSize = 1_000;

    /// <summary>Batches posted at once by the client (the workflow engine's own parallelism).</summary>
    public const int ClientParallelism = 2;
}
