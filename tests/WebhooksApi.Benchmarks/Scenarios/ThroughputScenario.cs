using System.Diagnostics;
using WebhooksApi.Benchmarks.Harness;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>
/// 2. N executions in batches of 1,000 to active connections, end to end: accepted (202), sent,
/// answered 2xx, attempt logged. Judged against the bare-HttpClient limit measured in the same run.
/// </summary>
internal sealed class ThroughputScenario : Scenario
{
    public override string Name => "throughput";

    public override string Unit => "executions";

    public override int DefaultN => 100_000;

    public override int AllN => 10_000;

    /// <summary>Executions per connection delivered before the clock starts.</summary>
    private const int Primer = 100;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var env = await BenchEnvironment.StartAsync(provider, null, cancellationToken);
        var steps = new List<BenchStep>();
        for (var i = 0; i < ThroughputShape.Connections; i++)
        {
            steps.Add(await env.Api.CreateStepAsync(env.Receiver.Url($"/throughput/{i}"), ThroughputShape.MaxConcurrency, cancellationToken: cancellationToken));
        }

        var limit = await LimitProbe.RequestsPerSecondAsync(new Uri(env.Receiver.Url("/limit")), Math.Clamp(n, 1_000, 20_000), cancellationToken);

        // A fresh service compiles code of its own on first use (its EF model's materializers,
        // expression trees: ~1,000 methods, ~1 s of JIT per run after the process's warm-up),
        // which a node does once after it starts. A small batch per connection, delivered before
        // the clock starts, keeps that out of the figures.
        foreach (var step in steps)
        {
            await env.Api.ExecuteAsync(step.StepId, ServiceApi.ExecutionBatch(0, Primer), cancellationToken);
        }

        var primed = steps.Count * Primer;
        await env.UntilAttemptsLoggedAsync(primed, TimeSpan.FromMinutes(1), $"{primed} priming attempts logged", cancellationToken);

        var batches = (n + ThroughputShape.BatchSize - 1) / ThroughputShape.BatchSize;
        var bodies = Enumerable.Range(0, batches).Select(b => ServiceApi.ExecutionBatch(b * ThroughputShape.BatchSize, Math.Min(ThroughputShape.BatchSize, n - (b * ThroughputShape.BatchSize)))).ToArray();
        var jit = await JitSample.SettleAsync(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10), cancellationToken);
        var cpu = MemorySampler.CpuTime();
        var commands = CommandCounter.Count;
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        var next = -1;
        var posters = Enumerable.Range(0, ThroughputShape.ClientParallelism).Select(async _ =>
        {
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches)
            {
                await env.Api.ExecuteAsync(steps[b % steps.Count].StepId, bodies[b], cancellationToken);
            }
        });
        await Task.WhenAll(posters);
        var accepted = clock.Elapsed;
        await env.UntilAttemptsLoggedAsync(primed + n, TimeSpan.FromMinutes(10), $"{n} attempts logged", cancellationToken);
        var completed = clock.Elapsed;
        var compiled = JitSample.Now() - jit;
        var cpuPerDelivery = (MemorySampler.CpuTime() - cpu).TotalMilliseconds / n;
        var commandsPerDelivery = (double)(CommandCounter.Count - commands) / n;
        var allocatedPerDelivery = (GC.GetTotalAllocatedBytes() - allocated) / 1024.0 / n;
        var succeeded = await env.DeliveriesAsync("succeeded", cancellationToken);
        if (succeeded != primed + n)
        {
            throw new InvalidOperationException($"{succeeded - primed} of {n} deliveries succeeded.");
        }

        var delivered = n / completed.TotalSeconds;
        var target = provider == "postgres" ? 5_000 : 10_000;
        return new RunFigures()
            .Add("accepted/s", n / accepted.TotalSeconds, "exec/s")
            .Add("delivered/s end to end", delivered, "deliv/s", Goal.AtLeast, target)
            .Add("limit (same run)", limit, "req/s")
            .Add("ratio to limit", delivered / limit, "x", Goal.AtLeast, 0.5)
            .Add("CPU per delivery (whole process)", cpuPerDelivery, "ms")
            .Add("SQL commands per delivery (accept + send + log)", commandsPerDelivery, "")
            .Add("allocated per delivery (whole process)", allocatedPerDelivery, "KiB")
            .Add("JIT while timed (methods compiled)", compiled.Methods, "");
    }
}
