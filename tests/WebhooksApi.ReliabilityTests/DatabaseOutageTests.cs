using System.Net;
using WebhooksApi.ReliabilityTests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.ReliabilityTests;

/// <summary>
/// PostgreSQL goes down for a few seconds under a running service (a cluster this test owns,
/// stopped `immediate` as in a crash, then started again). While it is down the service says it
/// is not ready and answers writes with 503 and Retry-After: never a 202 for something it could
/// not store, never a 500. When it is back the service recovers by itself (no restart), and
/// every batch accepted before, during (after its 503s) and after the outage is delivered.
/// </summary>
[Collection(nameof(CrashCollection))]
public sealed class DatabaseOutageTests(ITestOutputHelper output)
{
    private const int BeforeOutage = 2_000;
    private const int DuringOutage = 2_000;

    /// <summary>What an orchestrator's probe sends: no API key (with one, authentication itself needs the database).</summary>
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(10) };

    [SkippableFact]
    public async Task Postgres_briefly_down_means_not_ready_and_503_then_recovers_and_delivers_everything()
    {
        var unavailable = PostgresCluster.Unavailable();
        Skip.If(unavailable is not null, unavailable);
        await using var cluster = await PostgresCluster.StartOwnAsync();
        await using var receiver = await CountingReceiver.StartAsync();
        await using var service = new ServiceProcess("postgres", await cluster.CreateDatabaseAsync());
        await service.StartAsync();
        var run = await DeliveryRun.StartAsync(service, receiver);

        await run.SubmitAsync("before", BeforeOutage, 1_000, TimeSpan.FromMinutes(1));
        await Eventually.WaitAsync(() => receiver.Requests > 0, "deliveries flowing", TimeSpan.FromMinutes(1));

        await cluster.StopAsync();
        var down = DateTime.UtcNow;
        var notReady = await Eventually.WaitAsync(() => ReadyzAsync(service), r => r.Status == HttpStatusCode.ServiceUnavailable, "/readyz to report not ready", TimeSpan.FromSeconds(30));
        Assert.Equal("application/problem+json", notReady.MediaType);
        using (var live = await Probe.GetAsync(new Uri($"{service.BaseUrl}/healthz")))
        {
            // Liveness does not depend on the database: the node must not be restarted for an outage.
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        // The client keeps submitting: each try meets a 503 problem with Retry-After (checked by
        // the run), and the same Idempotency-Key goes again until it is stored.
        var during = run.SubmitAsync("during", DuringOutage, 1_000, TimeSpan.FromMinutes(2));
        await Eventually.WaitAsync(() => run.Unavailable >= 3, "three 503 answers while the database is down", TimeSpan.FromSeconds(30));
        Assert.Equal(BeforeOutage, run.Accepted.Count);
        var refusedWhileDown = run.Unavailable;

        await cluster.StartAsync();
        var outage = DateTime.UtcNow - down;
        await Eventually.WaitAsync(() => ReadyzAsync(service), r => r.Status == HttpStatusCode.OK, "/readyz to report ready again", TimeSpan.FromSeconds(60));
        await during;

        await run.WaitUntilDoneAsync(TimeSpan.FromMinutes(2));
        output.WriteLine(await run.AttemptsByOutcomeAsync());
        var summary = await run.VerifyAsync(BeforeOutage + DuringOutage);
        output.WriteLine(
            $"postgres down {outage.TotalSeconds:F1} s: {refusedWhileDown} writes answered 503 with Retry-After while down ({run.Unavailable} in all), 0 answered 202 or 500; " +
            $"{summary.Accepted} executions accepted in {run.Requests} POSTs, {summary.Received} requests received ({summary.Duplicates} re-sends), " +
            $"{summary.Attempts} attempts logged, 0 lost, 0 stuck; the service was not restarted");
        Assert.Equal(1, service.Starts);
    }

    private static async Task<(HttpStatusCode Status, string? MediaType)> ReadyzAsync(ServiceProcess service)
    {
        using var response = await Probe.GetAsync(new Uri($"{service.BaseUrl}/readyz"));
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType);
    }
}
