using WebhooksApi.Delivery;
using WebhooksApi.Features.Connections;

namespace WebhooksApi.Tests.Unit;

public sealed class RetryScheduleTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Runs a policy against an endpoint that always fails; returns the attempt times.</summary>
    private static List<DateTimeOffset> Attempts(RetryPolicyIn policy, double jitter, TimeSpan? retryAfter = null, int limit = 500)
    {
        var settings = RetrySchedule.Resolve(policy);
        var times = new List<DateTimeOffset> { Start };
        while (times.Count < limit)
        {
            var decision = RetrySchedule.Next(settings, times.Count, Start, times[^1], retryAfter, jitter);
            if (decision.RetryAt is null)
            {
                break;
            }

            times.Add(decision.RetryAt.Value);
        }

        return times;
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.999)]
    public void Exponential_retries_ten_times_and_the_last_is_about_an_hour_after_the_first_attempt(double jitter)
    {
        var times = Attempts(new RetryPolicyIn(), jitter);
        Assert.Equal(11, times.Count);
        Assert.InRange((times[^1] - times[0]).TotalMinutes, 54, 67);
        var delays = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
        Assert.Equal(delays.OrderBy(d => d), delays);
    }

    [Fact]
    public void Exponential_gives_up_with_max_attempts()
    {
        var settings = RetrySchedule.Resolve(new RetryPolicyIn());
        Assert.Equal("max_attempts", RetrySchedule.Next(settings, 11, Start, Start.AddHours(1), null, 0.5).GiveUpReason);
    }

    [Fact]
    public void Window_keeps_retrying_until_twelve_hours_have_passed()
    {
        var times = Attempts(new RetryPolicyIn(RetryKind.Window), 0.5);
        Assert.True(times[^1] <= Start.AddHours(12));
        Assert.True(times[^1] > Start.AddHours(10), $"last retry at {times[^1] - Start}");
        Assert.True(times.Count > 15);
        var settings = RetrySchedule.Resolve(new RetryPolicyIn(RetryKind.Window));
        Assert.Equal("window_elapsed", RetrySchedule.Next(settings, times.Count, Start, times[^1], null, 0.5).GiveUpReason);
    }

    [Fact]
    public void Ordered_doubles_from_one_minute_capped_at_an_hour_without_jitter()
    {
        var times = Attempts(new RetryPolicyIn(RetryKind.Ordered), 0.9, limit: 10);
        var minutes = times.Zip(times.Skip(1), (a, b) => (b - a).TotalMinutes).ToList();
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], minutes);
    }

    [Fact]
    public void Retry_after_is_honoured_and_capped()
    {
        var settings = RetrySchedule.Resolve(new RetryPolicyIn());
        Assert.Equal(Start.AddMinutes(10), RetrySchedule.Next(settings, 1, Start, Start, TimeSpan.FromMinutes(10), 0.5).RetryAt);
        Assert.Equal(Start.AddHours(1), RetrySchedule.Next(settings, 1, Start, Start, TimeSpan.FromDays(365), 0.5).RetryAt);
        Assert.Equal(Start.AddSeconds(20), RetrySchedule.Next(settings, 1, Start, Start, TimeSpan.FromSeconds(1), 0.5).RetryAt);
    }

    [Fact]
    public void Exponential_with_zero_retries_gives_up_after_the_first_attempt_while_ordered_zero_is_unlimited()
    {
        Assert.Single(Attempts(new RetryPolicyIn(RetryKind.Exponential, MaxAttempts: 0), 0.5));
        Assert.Equal(50, Attempts(new RetryPolicyIn(RetryKind.Ordered, MaxAttempts: 0), 0.5, limit: 50).Count);
    }

    [Fact]
    public void Custom_parameters_are_used()
    {
        var times = Attempts(new RetryPolicyIn(RetryKind.Exponential, MaxAttempts: 3, InitialDelaySeconds: 5, Factor: 2, MaxDelaySeconds: 8), 0.5);
        Assert.Equal([5.0, 8.0, 8.0], times.Zip(times.Skip(1), (a, b) => (b - a).TotalSeconds));
    }

    [Fact]
    public void Parameters_out_of_bounds_are_named()
    {
        var errors = RetryPolicyMapping.Validate(new RetryPolicyIn(RetryKind.Exponential, MaxAttempts: 51, InitialDelaySeconds: 0, Factor: 0.5, MaxDelaySeconds: 0, WindowHours: 5)).Select(e => e.Field).ToList();
        Assert.Equal(["retryPolicy.maxAttempts", "retryPolicy.initialDelaySeconds", "retryPolicy.factor", "retryPolicy.maxDelaySeconds", "retryPolicy.windowHours"], errors);
    }
}
