using System.Diagnostics;
using System.Text.Json.Nodes;
using WebhooksApi.Benchmarks.Harness;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>
/// 4. The receiver fails everything for a while, then recovers. N deliveries on one connection
/// whose retry policy is exponential from 1 s (factor 2, capped at 8 s), so a storm of a few
/// seconds exercises several retry rounds in real time. Figures: requests per second during the
/// storm (a thundering herd would be every pending delivery every poll; the schedule spreads
/// them), the busiest second, time to drain after recovery, and peak working set.
/// </summary>
internal sealed class RetryStormScenario : Scenario
{
    private static readonly TimeSpan Storm = TimeSpan.FromSeconds(8);

    public override string Name => "retry-storm";

    public override string Unit => "deliveries";

    public override int DefaultN => 10_000;

    public override int AllN => 2_000;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var env = await BenchEnvironment.StartAsync(provider, null, cancellationToken);
        await using var memory = new MemorySampler();
        var policy = new JsonObject { ["kind"] = "exponential", ["maxAttempts"] = 30, ["initialDelaySeconds"] = 1, ["factor"] = 2.0, ["maxDelaySeconds"] = 8 };
        var step = await env.Api.CreateStepAsync(env.Receiver.Url("/storm"), 100, policy, cancellationToken: cancellationToken);
        var before = env.Receiver.Received;
        env.Receiver.Failing = true;
        var stormStart = env.Receiver.SecondNow;
        var clock = Stopwatch.StartNew();
        for (var first = 0; first < n; first += 1_000)
        {
            await env.Api.ExecuteAsync(step.StepId, ServiceApi.ExecutionBatch(first, Math.Min(1_000, n - first)), cancellationToken);
        }

        var wait = Storm - clock.Elapsed;
        if (wait > TimeSpan.Zero)
        {
            // The storm's length is the point of the scenario, not a wait for a condition.
            await Task.Delay(wait, cancellationToken);
        }

        var stormEnd = env.Receiver.SecondNow;
        var stormSeconds = clock.Elapsed.TotalSeconds;
        var stormRequests = env.Receiver.Received - before;
        env.Receiver.Failing = false;
        var recovered = Stopwatch.StartNew();
        await BenchEnvironment.UntilAsync(async () => await env.DeliveriesAsync("succeeded", cancellationToken) >= n, TimeSpan.FromMinutes(5), $"{n} deliveries succeeded after recovery", cancellationToken);
        var drain = recovered.Elapsed.TotalSeconds;
        var perSecond = env.Receiver.PerSecond(stormStart, stormEnd);
        return new RunFigures()
            .Add("storm requests/s", stormRequests / stormSeconds, "req/s")
            .Add("storm busiest second", perSecond.Length == 0 ? 0 : perSecond.Max(), "req")
            .Add("attempts per delivery in storm", (double)stormRequests / n, "x")
            .Add("drain after recovery", drain, "s")
            .Add("peak working set", memory.PeakMb, "MB");
    }
}
