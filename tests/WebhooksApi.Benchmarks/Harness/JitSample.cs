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

    public override string ToString() => $"JIT: {Methods:N0} methods, {Time.TotalMilliseconds:N0} ms";
}
