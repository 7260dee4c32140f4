using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using WebhooksApi.Benchmarks.Harness;
using WebhooksApi.Benchmarks.Scenarios;

namespace WebhooksApi.Benchmarks;

/// <summary>
/// dotnet run -c Release --project tests/WebhooksApi.Benchmarks -- &lt;scenario|all&gt; [--n N] [--runs R]
/// [--provider sqlite|postgres] [--rate R] [--out results.json]. Each scenario runs R times (3) on a fresh
/// database and service; the table shows each figure's median with min and max, beside its target.
/// [--warmup N]: before the first delivering scenario, N executions go through untimed
/// throughput runs (default 20,000, or twice --n up to that; 0 for none), repeated until the JIT
/// has little left to compile (at most 4), and before latency up to
/// 10,000 of them through an untimed latency run. A fresh process spends
/// its first ~15 s compiling (500 methods/s, 40% of a core in the JIT by dotnet-counters), which
/// a node does once after it starts; without the warm-up the first timed runs measured that.
/// [--rate R]: the calls per second the latency scenarios offer (default 1,000, the targets' rate).
/// </summary>
internal static class BenchmarkMain
{
    /// <summary>A warm-up round that compiles fewer methods than this is the last one.</summary>
    private const int SettledMethods = 2_000;

    private const int MaxWarmupRounds = 4;

    private static Scenario[] ScenariosAt(int rate) =>
    [
        new LimitScenario(),
        new ThroughputScenario(),
        new LatencyScenario(rate: rate),
        new LatencyScenario(keyed: true, rate: rate),
        new RetryStormScenario(),
        new BacklogScenario(),
        new LogsScenario(),
        new FanoutScenario(),
    ];

    public static async Task<int> Main(string[] args)
    {
        string? name = null;
        int? n = null;
        var runs = 3;
        var provider = "sqlite";
        string? output = null;
        int? warmup = null;
        var rate = LatencyScenario.DefaultRate;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--n" when int.TryParse(value, out var parsed) && parsed > 0:
                    n = parsed;
                    i++;
                    break;
                case "--runs" when int.TryParse(value, out var parsed) && parsed > 0:
                    runs = parsed;
                    i++;
                    break;
                case "--warmup" when int.TryParse(value, out var parsed) && parsed >= 0:
                    warmup = parsed;
                    i++;
                    break;
                case "--rate" when int.TryParse(value, out var parsed) && parsed > 0:
                    rate = parsed;
                    i++;
                    break;
                case "--provider" when value is "sqlite" or "postgres":
                    provider = value;
                    i++;
                    break;
                case "--out" when value is not null:
                    output = value;
                    i++;
                    break;
                default:
                    if (name is null && !args[i].StartsWith("--", StringComparison.Ordinal))
                    {
                        name = args[i];
                        break;
                    }

                    return Usage($"Unexpected argument '{args[i]}'.");
            }
        }

        var scenarios = ScenariosAt(rate);
        var selected = name == "all" ? scenarios : scenarios.Where(s => s.Name == name).ToArray();
        if (selected.Length == 0)
        {
            return Usage(name is null ? "Name a scenario." : $"Unknown scenario '{name}'.");
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        CommandCounter.EnsureStarted();
        var commit = await GitCommitAsync();
        var results = new JsonArray();
        var table = new List<string[]>();
        var failures = 0;
        var total = Stopwatch.StartNew();
        var warmupSize = warmup ?? Math.Min(20_000, (n ?? 10_000) * 2);
        if (warmupSize > 0 && selected.Any(s => s is not LimitScenario and not LogsScenario))
        {
            // Tiered compilation recompiles hot methods for several rounds (with the profile the
            // rounds before collected). Rounds of 20,000 without a warm-up compiled 24,376, 5,583
            // and 1,553 methods, then ~1,045 a round: what each fresh service compiles (its EF
            // model, expression trees). After one round of warm-up the first timed run spent 4.2 s
            // of its 7.9 s in the JIT. So rounds repeat until one compiles fewer than
            // SettledMethods, at most MaxWarmupRounds.
            for (var round = 1; round <= MaxWarmupRounds; round++)
            {
                Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] warm-up: throughput n={warmupSize} round {round}, not counted ...");
                var jit = JitSample.Now();
                await new ThroughputScenario().RunAsync(provider, warmupSize, cancel.Token);
                var compiled = JitSample.Now() - jit;
                Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}]   {compiled}");
                if (compiled.Methods < SettledMethods)
                {
                    break;
                }
            }
        }

        if (warmupSize > 0 && selected.Any(s => s is LatencyScenario))
        {
            // Single calls at 1,000/s run code the batches above never reach (a lone call's path,
            // groups of a few calls beside the dispatcher's work): after the throughput warm-up
            // alone the first latency run still spent its first ~5 s compiling it (p99 73-220 ms
            // against 30-40 ms in the runs after it; ~14 s in a process without any warm-up).
            var latencyWarmup = Math.Min(10_000, warmupSize);
            Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] warm-up: latency n={latencyWarmup}, not counted ...");
            await new LatencyScenario(rate: rate).RunAsync(provider, latencyWarmup, cancel.Token);
        }

        foreach (var scenario in selected)
        {
            var size = n ?? (name == "all" ? scenario.AllN : scenario.DefaultN);
            var perRun = new List<RunFigures>();
            string? error = null;
            for (var run = 1; run <= runs; run++)
            {
                Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] {scenario.Name} n={size} ({scenario.Unit}) run {run}/{runs} on {provider} ...");
                try
                {
                    var clock = Stopwatch.StartNew();
                    var jit = JitSample.Now();
                    perRun.Add(await scenario.RunAsync(provider, size, cancel.Token));
                    Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}]   done in {clock.Elapsed.TotalSeconds:0.0} s ({JitSample.Now() - jit}): "
                        + string.Join(", ", perRun[^1].Items.Select(f => $"{f.Name}={Format(f.Value)}")));
                }
                catch (Exception e) when (!cancel.IsCancellationRequested)
                {
                    error = e.ToString();
                    Console.Error.WriteLine($"{scenario.Name} failed: {e}");
                    break;
                }
            }

            var figures = Summarise(perRun);
            if (error is not null || figures.Count == 0)
            {
                failures++;
            }

            foreach (var f in figures)
            {
                table.Add([scenario.Name, f.Name, $"{Format(f.Median)} {f.Unit}", $"{Format(f.Min)} .. {Format(f.Max)}", f.TargetText, f.Verdict]);
            }

            if (error is not null)
            {
                table.Add([scenario.Name, "ERROR", error.Split('\n')[0].Trim(), "", "", "FAILED"]);
            }

            results.Add(new JsonObject
            {
                ["scenario"] = scenario.Name,
                ["provider"] = provider,
                ["n"] = size,
                ["unit"] = scenario.Unit,
                ["runs"] = perRun.Count,
                ["warmup"] = warmupSize,
                ["cores"] = Environment.ProcessorCount,
                ["commit"] = commit,
                ["machine"] = Environment.MachineName,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
                ["date"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["error"] = error,
                ["figures"] = new JsonArray([.. figures.Select(f => (JsonNode)new JsonObject
                {
                    ["name"] = f.Name,
                    ["unit"] = f.Unit,
                    ["median"] = Math.Round(f.Median, 3),
                    ["min"] = Math.Round(f.Min, 3),
                    ["max"] = Math.Round(f.Max, 3),
                    ["target"] = f.TargetText.Length == 0 ? null : f.TargetText,
                    ["met"] = f.Met,
                })]),
            });
        }

        Print(table, provider, commit, total.Elapsed);
        if (output is not null)
        {
            await File.WriteAllTextAsync(output, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"Wrote {output}");
        }

        return failures == 0 ? 0 : 1;
    }

    private sealed record Summary(string Name, string Unit, double Median, double Min, double Max, string TargetText, bool? Met)
    {
        public string Verdict => Met switch { true => "met", false => "MISSED", null => "" };
    }

    private static List<Summary> Summarise(List<RunFigures> runs)
    {
        if (runs.Count == 0)
        {
            return [];
        }

        return [.. runs[0].Items.Select(first =>
        {
            var values = runs.Select(r => r.Items.FirstOrDefault(f => f.Name == first.Name)?.Value).OfType<double>().ToList();
            var median = Stats.Median(values);
            var judged = first with { Value = median };
            var target = first.Target is { } t ? (first.Goal == Goal.AtLeast ? ">= " : "< ") + Format(t) : string.Empty;
            return new Summary(first.Name, first.Unit, median, values.Min(), values.Max(), target, judged.Met);
        })];
    }

    private static void Print(List<string[]> rows, string provider, string commit, TimeSpan elapsed)
    {
        string[] header = ["scenario", "figure", "median", "min .. max", "target", ""];
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        Console.WriteLine();
        Console.WriteLine($"provider {provider}, {Environment.ProcessorCount} cores, commit {commit}, {elapsed.TotalSeconds:0} s");
        foreach (var row in all)
        {
            Console.WriteLine("| " + string.Join(" | ", row.Select((cell, c) => cell.PadRight(widths[c]))) + " |");
            if (row == header)
            {
                Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
            }
        }
    }

    public static string Format(double value) => Math.Abs(value) switch
    {
        >= 100 => value.ToString("N0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };

    private static async Task<string> GitCommitAsync()
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse --short HEAD") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            var text = await git.StandardOutput.ReadToEndAsync();
            await git.WaitForExitAsync();
            return git.ExitCode == 0 ? text.Trim() : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    private static int Usage(string error)
    {
        Console.Error.WriteLine(error);
        Console.Error.WriteLine("usage: dotnet run -c Release --project tests/WebhooksApi.Benchmarks -- <scenario|all> [--n N] [--runs R] [--warmup N] [--provider sqlite|postgres] [--rate R] [--out results.json]");
        foreach (var s in ScenariosAt(LatencyScenario.DefaultRate))
        {
            Console.Error.WriteLine($"  {s.Name,-12} --n = {s.Unit} (default {s.DefaultN:N0}; {s.AllN:N0} under all)");
        }

        return 2;
    }
}
