using System.Diagnostics;
using WebhooksApi.Benchmarks.Harness;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>
/// 5. N executions to a connection that may not send yet (created, never tested: its deliveries
/// are held), then it is tested and activated and the backlog drains. Figures: ingest rate,
/// working set after ingest and at peak (this process: service, receiver and client), drain rate.
/// </summary>
internal sealed class BacklogScenario : Scenario
{
    public override string Name => "backlog";

    public override string Unit => "pending deliveries";

    public override int DefaultN => 1_000_000;

    public override int AllN => 10_000;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var env = await BenchEnvironment.StartAsync(provider, null, cancellationToken);
        await using var memory = new MemorySampler();
        var step = await env.Api.CreateStepAsync(env.Receiver.Url("/backlog"), 100, activate: false, cancellationToken: cancellationToken);
        var batches = (n + 999) / 1_000;
        var next = -1;
        // SQLite's peak from here: the high-water mark is process-wide, and earlier runs and scenarios set it too.
        _ = SQLitePCL.raw.sqlite3_memory_highwater(1);
        var ingestCpu = MemorySampler.CpuTime();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, ThroughputShape.ClientParallelism).Select(async _ =>
        {
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches)
            {
                await env.Api.ExecuteAsync(step.StepId, ServiceApi.ExecutionBatch(b * 1_000, Math.Min(1_000, n - (b * 1_000))), cancellationToken);
            }
        }));
        var ingest = n / clock.Elapsed.TotalSeconds;
        // Nothing is sent while the connection is untested, so this is the accept path's own CPU
        // (service and client): a figure that does not move with the machine's other load.
        var ingestCpuPerExecution = (MemorySampler.CpuTime() - ingestCpu).TotalMilliseconds / n;
        var held = await env.DeliveriesAsync("held", cancellationToken);
        if (held != n)
        {
            throw new InvalidOperationException($"{held} of {n} deliveries are held.");
        }

        GC.Collect();
        var afterIngest = MemorySampler.CurrentMb();
        var (heap, committed, sqlite, sqlitePeak, files) = MemorySampler.Parts();
        var cpu = MemorySampler.CpuTime();
        var commands = CommandCounter.Count;
        var drainClock = Stopwatch.StartNew();
        await env.Api.ActivateAsync(step.ConnectionId, cancellationToken);
        // The deadline only catches a drain that stopped: 15 minutes, or longer for a size that takes
        // that at 500 deliveries/s (a 1,000,000 run on a shared machine hit the flat 15 minutes
        // at 935,435 delivered and printed no figures at all).
        var deadline = TimeSpan.FromSeconds(Math.Max(15 * 60, n / 500.0));
        await env.UntilAttemptsLoggedAsync(n, deadline, $"{n} backlog deliveries drained", cancellationToken);
        var drain = n / drainClock.Elapsed.TotalSeconds;
        var cpuPerDelivery = (MemorySampler.CpuTime() - cpu).TotalMilliseconds / n;
        var commandsPerDelivery = (double)(CommandCounter.Count - commands) / n;
        return new RunFigures()
            .Add("ingest", ingest, "exec/s")
            .Add("ingest CPU per execution (whole process)", ingestCpuPerExecution, "ms")
            .Add("working set after ingest", afterIngest, "MB", Goal.Below, 400)
            .Add("peak working set", memory.PeakMb, "MB", Goal.Below, 400)
            .Add("after ingest: managed heap", heap, "MB")
            .Add("after ingest: managed heap committed", committed, "MB")
            .Add("after ingest: SQLite's allocations", sqlite, "MB")
            .Add("after ingest: SQLite's allocations at their peak", sqlitePeak, "MB")
            .Add("after ingest: mapped files resident", files, "MB")
            .Add("drain", drain, "deliv/s")
            .Add("drain CPU per delivery (whole process)", cpuPerDelivery, "ms")
            .Add("drain SQL commands per delivery", commandsPerDelivery, "");
    }
}
