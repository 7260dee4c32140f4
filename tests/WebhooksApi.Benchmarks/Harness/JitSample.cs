using System.Diagnostics;
using System.Runtime;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// How much the JIT had compiled in this process at one moment; the difference of two is what it
/// compiled between them. A run that compiled much measured the JIT as well as the service.
/// </summary>
internal readonly record struct JitSample(long Methods, TimeSpan Time)
{
    public static JitSample Now() => new(JitInfo.GetCompiledMethodCount(), JitInfo.GetCompilationTime());

    public static JitSample operator -(JitSample later, JitSample earlier) => new(later.Methods - earlier.Methods, later.Time - earlier.Time);

    /// <summary>
    /// Waits until the JIT has compiled nothing for <paramref name="quiet"/> (at most
    /// <paramref name="deadline"/>): a fresh service queues the tier-1 versions of what its start and
    /// priming ran, and the tiering thread compiles them as soon as the process goes quiet, which
    /// is when the clock would start. A node does that once after it starts.
    /// </summary>
    public static async Task<JitSample> SettleAsync(TimeSpan quiet, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var last = Now();
        while (clock.Elapsed < deadline)
        {
            await Task.Delay(quiet, cancellationToken);
            var now = Now();
            if (now.Methods == last.Methods)
            {
                return now;
            }

            last = now;
        }

        return last;
    }

    public override string ToString() => $"JIT: {Methods:N0} methods, {Time.TotalMilliseconds:N0} ms";
}
