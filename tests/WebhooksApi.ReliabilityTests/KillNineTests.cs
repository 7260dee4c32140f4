using System.Globalization;
using WebhooksApi.ReliabilityTests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.ReliabilityTests;

/// <summary>
/// The service is SIGKILLed several times, at random moments while deliveries are in flight (and
/// batches are being submitted), and started again on the same database. At-least-once must
/// hold across every kill: what a 202 accepted arrives; a re-send carries the same webhook-id;
/// rows a dead process had claimed go back to pending when their lease runs out.
/// The seed is printed; WEBHOOKS_CRASH_SEED replays a run.
/// </summary>
[Collection(nameof(CrashCollection))]
public sealed class KillNineTests(ITestOutputHelper output)
{
    /// <summary>
    /// 5,000 per provider by default, so the project fits a CI run on a shared 2-core machine;
    /// WEBHOOKS_CRASH_EXECUTIONS=20000 runs the issue's full size.
    /// </summary>
    private static readonly int Executions = Size("WEBHOOKS_CRASH_EXECUTIONS", 5_000);
    private const int BatchSize = 500;
    private const int Kills = 4;

    [Fact]
    public async Task Sqlite_service_killed_four_times_mid_delivery_delivers_every_accepted_execution()
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
    public async Task Postgres_service_killed_four_times_mid_delivery_delivers_every_accepted_execution()
    {
        var unavailable = PostgresCluster.Unavailable();
        Skip.If(unavailable is not null, unavailable);
        var cluster = await PostgresCluster.SharedAsync();
        await cluster.WithDatabaseAsync(database => RunAsync("postgres", database));
    }

    private async Task RunAsync(string provider, string connectionString)
    {
        var seed = Seed();
        output.WriteLine($"{provider}: seed {seed} (set WEBHOOKS_CRASH_SEED={seed} to replay)");
        var random = new Random(seed);
        await using var receiver = await CountingReceiver.StartAsync();
        await using var service = new ServiceProcess(provider, connectionString);
        await service.StartAsync();
        var run = await DeliveryRun.StartAsync(service, receiver);

        // Kill points are counts of requests at the receiver, so every kill lands while deliveries are flowing.
        var killAt = Enumerable.Range(0, Kills).Select(_ => random.Next(Executions / 20, Executions * 9 / 10)).Order().ToList();
        var started = DateTime.UtcNow;
        var submit = run.SubmitAsync("k", Executions, BatchSize, TimeSpan.FromMinutes(2));
        foreach (var at in killAt)
        {
            await Eventually.WaitAsync(() => receiver.Requests >= at, $"{at} requests at the receiver before kill {service.Kills + 1}", TimeSpan.FromMinutes(2));
            var accepted = run.Accepted.Count;
            await service.KillAsync();
            output.WriteLine($"kill -9 #{service.Kills} at {receiver.Requests} received, {accepted} accepted so far, submitting: {!submit.IsCompleted}");
            await service.StartAsync();
        }

        await submit;
        await run.WaitUntilDoneAsync(TimeSpan.FromMinutes(2));
        output.WriteLine(await run.AttemptsByOutcomeAsync());
        var summary = await run.VerifyAsync(Executions);
        output.WriteLine(
            $"{provider}: {Executions} executions accepted in {run.Requests} POSTs ({run.Retried} re-sent after a kill), {service.Kills} kills, " +
            $"{summary.Received} requests received for {Executions} deliveries ({summary.Duplicates} re-sends, each with its first webhook-id), " +
            $"{summary.Attempts} attempts logged, 0 lost, 0 stuck, in {(DateTime.UtcNow - started).TotalSeconds:F0} s");
    }

    internal static int Size(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var size) && size > 0 ? size : fallback;

    internal static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("WEBHOOKS_CRASH_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
            ? seed
            : Random.Shared.Next();
}
