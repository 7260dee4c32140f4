using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Benchmarks.Harness;
using WebhooksApi.Delivery;
using WebhooksApi.Security;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>
/// 3. A steady offered load of single-item executions (1,000/s; N in total, so the default 30,000
/// is 30 s), open loop: a request is started on schedule whether or not earlier ones answered.
/// API latency is the executions call's round trip; delivery latency runs from the moment the
/// 202 arrived to the first byte of that delivery at the receiver (it can be slightly negative:
/// the dispatcher may send before the 202 reaches the client).
/// <para>
/// Each run first offers <see cref="WarmupSeconds"/> of the same load, not counted, to its fresh
/// service (pools, connections, the database's first pages); the process's code is warmed once,
/// before the first run (BenchmarkMain).
/// </para>
/// <para>
/// `latency-keyed` is the same load with an Idempotency-Key on every call, as integrators that
/// retry safely send it: the key's claim is one more write per request (figures only; the
/// issue's latency targets are stated for `latency`).
/// </para>
/// </summary>
/// <param name="keyed">Send every call with an Idempotency-Key of its own.</param>
/// <param name="rate">Calls offered per second (`--rate`; the targets are stated at 1,000).</param>
internal sealed class LatencyScenario(bool keyed = false, int rate = LatencyScenario.DefaultRate) : Scenario
{
    public const int DefaultRate = 1_000;

    private const int WarmupSeconds = 1;

    public override string Name => keyed ? "latency-keyed" : "latency";

    public override string Unit => $"executions at {rate:N0}/s";

    public override int DefaultN => 30_000;

    public override int AllN => 5_000;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var env = await BenchEnvironment.StartAsync(provider, null, cancellationToken);
        var step = await env.Api.CreateStepAsync(env.Receiver.Url("/latency"), cancellationToken: cancellationToken);
        var arrivals = new ConcurrentDictionary<string, long>();
        env.Receiver.Arrivals = arrivals;
        // Warm the path (JIT, pools) with the load itself before measuring it.
        var warmup = WarmupSeconds * rate;
        await OfferAsync(env, step.StepId, warmup, -warmup, (_, _, _) => { }, cancellationToken);
        await env.UntilAttemptsLoggedAsync(warmup, TimeSpan.FromMinutes(1), "warm-up deliveries", cancellationToken);

        var committer = env.Service.Services.GetRequiredService<AcceptCommitter>();
        var (commits, requests) = (committer.Commits, committer.Requests);
        var cpu = MemorySampler.CpuTime();
        var allocated = GC.GetTotalAllocatedBytes();
        var gcPause = GC.GetTotalPauseDuration();
        var commands = CommandCounter.Count;
        var api = new double[n];
        var accepted = new (string Id, long At)[n];
        var start = Stopwatch.GetTimestamp();
        await OfferAsync(
            env,
            step.StepId,
            n,
            0,
            (index, milliseconds, answer) =>
            {
                api[index] = milliseconds;
                accepted[index] = answer;
            },
            cancellationToken);
        var offered = n / Stopwatch.GetElapsedTime(start).TotalSeconds;
        // Below 1 when concurrent accepts shared a transaction (group commit, on both providers).
        var commitsPerRequest = (double)(committer.Commits - commits) / Math.Max(1, committer.Requests - requests);
        await BenchEnvironment.UntilAsync(() => Task.FromResult(accepted.All(a => arrivals.ContainsKey(a.Id))), TimeSpan.FromMinutes(5), "every delivery at the receiver", cancellationToken, pollMs: 200);
        await env.UntilAttemptsLoggedAsync(warmup + n, TimeSpan.FromMinutes(5), "every attempt logged", cancellationToken);
        var cpuPerExecution = (MemorySampler.CpuTime() - cpu).TotalMilliseconds / n;
        var allocatedPerExecution = (GC.GetTotalAllocatedBytes() - allocated) / 1024.0 / n;
        var gcPauses = (GC.GetTotalPauseDuration() - gcPause).TotalMilliseconds;
        var commandsPerExecution = (double)(CommandCounter.Count - commands) / n;
        var toReceiver = accepted.Select(a => Stopwatch.GetElapsedTime(a.At, arrivals[a.Id]).TotalMilliseconds).ToList();
        // latency-keyed reports the same figures without the targets, which are for `latency`.
        var goal = keyed ? Goal.None : Goal.Below;
        double? Target(double value) => keyed ? null : value;
        return new RunFigures()
            .Add("offered load", offered, "exec/s")
            .Add("API p50", Stats.Percentile(api, 50), "ms")
            .Add("API p99", Stats.Percentile(api, 99), "ms", goal, Target(20))
            .Add("accepted -> receiver p50", Stats.Percentile(toReceiver, 50), "ms")
            .Add("accepted -> receiver p99", Stats.Percentile(toReceiver, 99), "ms", goal, Target(50))
            .Add("accept commits per request", commitsPerRequest, "")
            .Add("CPU per execution (whole process, accept + send + log)", cpuPerExecution, "ms")
            .Add("allocated per execution (whole process)", allocatedPerExecution, "KB")
            .Add("GC pauses in the run (whole process)", gcPauses, "ms")
            .Add("SQL commands per execution (accept + send + log)", commandsPerExecution, "");
    }

    /// <summary>
    /// Starts <paramref name="count"/> single executions on schedule, open loop, and waits for
    /// their answers; <paramref name="answered"/> gets each one's index, round trip and message id
    /// with the moment its 202 arrived. Contacts are numbered from <paramref name="first"/>.
    /// </summary>
    private async Task OfferAsync(BenchEnvironment env, string stepId, int count, int first, Action<int, double, (string Id, long At)> answered, CancellationToken cancellationToken)
    {
        var inFlight = new List<Task>(count);
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            var wait = due - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, cancellationToken);
            }

            var index = i;
            inFlight.Add(Task.Run(
                async () =>
                {
                    var sent = Stopwatch.GetTimestamp();
                    var key = keyed ? $"bench-{stepId}-{first + index}" : null;
                    var ids = await env.Api.ExecuteAsync(stepId, ServiceApi.SingleExecution(first + index), cancellationToken, key);
                    var at = Stopwatch.GetTimestamp();
                    answered(index, Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds, (WebhookSigner.NewMessageId(Guid.Parse(ids[0])), at));
                },
                cancellationToken));
        }

        await Task.WhenAll(inFlight);
    }
}
