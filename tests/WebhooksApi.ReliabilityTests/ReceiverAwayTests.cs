using System.Net;
using System.Text.Json;
using WebhooksApi.ReliabilityTests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.ReliabilityTests;

/// <summary>
/// The receiver goes away mid-run (its port refuses connections), the service is SIGKILLed while
/// it is away, and the receiver comes back on the same port: deliveries that met a refused
/// connection are retried, not dropped, and every accepted one arrives under its webhook-id.
/// </summary>
[Collection(nameof(CrashCollection))]
public sealed class ReceiverAwayTests(ITestOutputHelper output)
{
    private const int Executions = 5_000;

    /// <summary>Quick retries, so the test waits seconds, not the default minutes, for the receiver's return to be noticed.</summary>
    private static readonly object QuickRetries = new { kind = "exponential", maxAttempts = 50, initialDelaySeconds = 1, factor = 1.5, maxDelaySeconds = 2 };

    [Fact]
    public async Task Sqlite_receiver_refusing_connections_then_back_gets_every_accepted_execution()
    {
        var folder = Directory.CreateTempSubdirectory("webhooks-crash-sqlite-");
        try
        {
            await RunAsync("sqlite", $"Data Source={Path.Combine(folder.FullName, "webhooks.db")}");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [SkippableFact]
    public async Task Postgres_receiver_refusing_connections_then_back_gets_every_accepted_execution()
    {
        var unavailable = PostgresCluster.Unavailable();
        Skip.If(unavailable is not null, unavailable);
        var cluster = await PostgresCluster.SharedAsync();
        await cluster.WithDatabaseAsync(database => RunAsync("postgres", database));
    }

    private async Task RunAsync(string provider, string connectionString)
    {
        var seed = KillNineTests.Seed();
        output.WriteLine($"{provider}: seed {seed} (set WEBHOOKS_CRASH_SEED={seed} to replay)");
        var random = new Random(seed);
        await using var receiver = await CountingReceiver.StartAsync();
        await using var service = new ServiceProcess(provider, connectionString);
        await service.StartAsync();
        var run = await DeliveryRun.StartAsync(service, receiver, QuickRetries);
        var started = DateTime.UtcNow;

        var submit = run.SubmitAsync("r", Executions, 1_000, TimeSpan.FromMinutes(2));
        var goAwayAt = random.Next(Executions / 10, Executions / 3);
        await Eventually.WaitAsync(() => receiver.Requests >= goAwayAt, $"{goAwayAt} requests at the receiver", TimeSpan.FromMinutes(2));
        await receiver.DownAsync();
        var receivedBefore = receiver.Requests;
        output.WriteLine($"receiver down at {receivedBefore} received");

        await WaitForRefusedAsync(service, run.StepId, 1);
        await service.KillAsync();
        output.WriteLine("kill -9 while the receiver is away");
        await service.StartAsync();
        // The restarted node meets the refused port too before the receiver returns.
        var refusedBeforeReturn = await WaitForRefusedAsync(service, run.StepId, 2);
        await submit;
        await receiver.UpAsync();
        output.WriteLine($"receiver back after {refusedBeforeReturn}+ refused attempts");

        await run.WaitUntilDoneAsync(TimeSpan.FromMinutes(2));
        output.WriteLine(await run.AttemptsByOutcomeAsync());
        var summary = await run.VerifyAsync(Executions, receiverWentAway: true);
        var refused = await CountRefusedAsync(service, run.StepId);
        Assert.True(summary.Attempts >= Executions + refused, $"attempts {summary.Attempts} should count the {refused} refused ones");
        output.WriteLine(
            $"{provider}: {Executions} executions accepted in {run.Requests} POSTs, receiver away once ({refused} refused attempts logged), {service.Kills} kill while away, " +
            $"{summary.Received} requests received for {Executions} deliveries ({summary.Duplicates} re-sends), {summary.Attempts} attempts logged, 0 lost, 0 stuck, " +
            $"in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
    }

    /// <summary>Waits until this node has logged refused attempts (the logs list newest first; count up to a page).</summary>
    private static Task<int> WaitForRefusedAsync(ServiceProcess service, string stepId, int atLeast) =>
        Eventually.WaitAsync(() => CountRefusedAsync(service, stepId, allPages: false), n => n >= atLeast, $"{atLeast} connection_refused attempts logged", TimeSpan.FromMinutes(1));

    private static async Task<int> CountRefusedAsync(ServiceProcess service, string stepId, bool allPages = true)
    {
        var total = 0;
        string? cursor = null;
        do
        {
            var url = $"/v1/logs?outcome=connection_refused&workflowWebhookId={stepId}&limit=500" + (cursor is null ? string.Empty : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await service.Client.GetAsync(new Uri(url, UriKind.Relative));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)response.StatusCode} {text}");
            using var page = JsonDocument.Parse(text);
            total += page.RootElement.GetProperty("items").GetArrayLength();
            cursor = page.RootElement.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null && allPages);

        return total;
    }
}
