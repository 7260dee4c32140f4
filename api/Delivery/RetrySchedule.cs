using WebhooksApi.Features.Connections;

namespace WebhooksApi.Delivery;

/// <summary>A retry policy with every parameter resolved.</summary>
internal sealed record RetrySettings(RetryKind Kind, int MaxRetries, TimeSpan InitialDelay, double Factor, TimeSpan MaxDelay, TimeSpan? Window);

/// <summary>What to do after a failed attempt: retry at a time, or give up with a reason.</summary>
internal readonly record struct RetryDecision(DateTimeOffset? RetryAt, string? GiveUpReason)
{
    public static RetryDecision At(DateTimeOffset time) => new(time, null);

    public static RetryDecision GiveUp(string reason) => new(null, reason);
}

/// <summary>
/// The retry schedules (pure: time and jitter are passed in).
/// exponential: 10 retries, initial 20 s, factor 1.6: 20, 32, 51, 82, 131, 210, 336, 537, 859,
///   1374 s sum to 3632 s, so the last retry lands about an hour after the first attempt; each
///   delay is jittered by +-10% so a recovered endpoint is not hit by every backlog at once.
/// window: the same curve capped at an hour, retried until windowHours (12) have passed.
/// ordered: 1, 2, 4, 8 ... minutes capped at 60, without limit (head of line: later deliveries wait).
/// </summary>
internal static class RetrySchedule
{
    /// <summary>A receiver's Retry-After is honoured up to this, so a hostile value cannot park a delivery for a year.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromHours(1);

    public static RetrySettings Resolve(RetryPolicyIn policy) => policy.Kind switch
    {
        RetryKind.Window => new RetrySettings(
            RetryKind.Window,
            policy.MaxAttempts ?? 0,
            TimeSpan.FromSeconds(policy.InitialDelaySeconds ?? 20),
            policy.Factor ?? 2.0,
            TimeSpan.FromSeconds(policy.MaxDelaySeconds ?? 3600),
            TimeSpan.FromHours(policy.WindowHours ?? 12)),
        RetryKind.Ordered => new RetrySettings(
            RetryKind.Ordered,
            policy.MaxAttempts ?? 0,
            TimeSpan.FromSeconds(policy.InitialDelaySeconds ?? 60),
            policy.Factor ?? 2.0,
            TimeSpan.FromSeconds(policy.MaxDelaySeconds ?? 3600),
            null),
        _ => new RetrySettings(
            RetryKind.Exponential,
            policy.MaxAttempts ?? 10,
            TimeSpan.FromSeconds(policy.InitialDelaySeconds ?? 20),
            policy.Factor ?? 1.6,
            TimeSpan.FromSeconds(policy.MaxDelaySeconds ?? 3600),
            null),
    };

    /// <param name="attemptsMade">Attempts so far, including the one that just failed (at least 1).</param>
    /// <param name="jitterSample">A number in [0, 1): production passes Random.Shared.NextDouble().</param>
    public static RetryDecision Next(RetrySettings settings, int attemptsMade, DateTimeOffset firstAttemptAt, DateTimeOffset now, TimeSpan? retryAfter, double jitterSample)
    {
        var retriesDone = Math.Max(0, attemptsMade - 1);
        // maxAttempts 0: no limit for window (the window bounds it) and ordered (the hold limit
        // does); for exponential nothing else bounds it, so 0 means no retries at all.
        var limited = settings.Kind == RetryKind.Exponential || settings.MaxRetries > 0;
        if (limited && retriesDone >= settings.MaxRetries)
        {
            return RetryDecision.GiveUp("max_attempts");
        }

        var delay = Delay(settings, retriesDone, jitterSample);
        if (retryAfter is { } asked && asked > delay)
        {
            delay = asked < MaxRetryAfter ? asked : MaxRetryAfter;
        }

        var at = now + delay;
        if (settings.Window is { } window && at > firstAttemptAt + window)
        {
            return RetryDecision.GiveUp("window_elapsed");
        }

        return RetryDecision.At(at);
    }

    /// <summary>The delay before retry number <paramref name="retryIndex"/> + 1.</summary>
    public static TimeSpan Delay(RetrySettings settings, int retryIndex, double jitterSample)
    {
        var seconds = settings.InitialDelay.TotalSeconds * Math.Pow(settings.Factor, Math.Min(retryIndex, 60));
        seconds = Math.Min(seconds, settings.MaxDelay.TotalSeconds);
        if (settings.Kind != RetryKind.Ordered)
        {
            seconds *= 0.9 + (0.2 * Math.Clamp(jitterSample, 0, 1));
        }

        return TimeSpan.FromSeconds(Math.Max(1, seconds));
    }
}
