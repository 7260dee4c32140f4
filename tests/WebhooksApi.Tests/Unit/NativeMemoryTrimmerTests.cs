using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Unit;

public sealed class NativeMemoryTrimmerTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task Trims_once_per_interval_and_not_before()
    {
        var calls = 0;
        using var trimmer = new NativeMemoryTrimmer(_time, NullLogger<NativeMemoryTrimmer>.Instance, () => Interlocked.Increment(ref calls) > 0);
        await trimmer.StartAsync(CancellationToken.None);

        _time.Advance(NativeMemoryTrimmer.Interval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, Volatile.Read(ref calls));

        for (var expected = 1; expected <= 3; expected++)
        {
            _time.Advance(expected == 1 ? TimeSpan.FromMilliseconds(1) : NativeMemoryTrimmer.Interval);
            await Eventually.WaitAsync(() => trimmer.Trims == expected, $"trim {expected}");
        }

        await trimmer.StopAsync(CancellationToken.None);
        Assert.Equal(3, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Stops_for_good_where_the_C_library_has_no_trim()
    {
        var calls = 0;
        using var trimmer = new NativeMemoryTrimmer(_time, NullLogger<NativeMemoryTrimmer>.Instance, () =>
        {
            Interlocked.Increment(ref calls);
            return false;
        });
        await trimmer.StartAsync(CancellationToken.None);

        _time.Advance(NativeMemoryTrimmer.Interval);
        await Eventually.WaitAsync(() => trimmer.ExecuteTask is { IsCompleted: true }, "the trimmer to stop");
        _time.Advance(NativeMemoryTrimmer.Interval * 3);

        Assert.Equal(1, Volatile.Read(ref calls));
        Assert.Equal(0, trimmer.Trims);
    }

    [Fact]
    public void Trims_for_real_on_linux_with_glibc()
    {
        // The machines this runs on (development and CI) are Linux with glibc; elsewhere there is nothing to trim.
        Assert.Equal(OperatingSystem.IsLinux(), NativeMemoryTrimmer.TrimNow());
    }
}
