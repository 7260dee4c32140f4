using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using WebhooksApi.Http;

namespace WebhooksApi.Security;

internal sealed class FailedAuthOptions
{
    public const string Section = "Security";

    /// <summary>Failed authentications one client address may make per window before it gets 429s.</summary>
    public int FailedAuthLimit { get; set; } = 100;

    public int FailedAuthWindowSeconds { get; set; } = 60;
}

/// <summary>
/// Slows down key guessing: after <see cref="FailedAuthOptions.FailedAuthLimit"/> refused keys
/// from one client address within a window, every request from it that carries a key gets a 429
/// until the window ends, a right key included (otherwise the guesser would still learn which
/// key is right). A fixed window per address, in memory, counted on the app's clock; requests
/// with a good key never touch it, so successful authentication costs nothing extra.
/// </summary>
internal sealed class FailedAuthLimiter(TimeProvider time, IOptions<FailedAuthOptions> options)
{
    private const int PruneAbove = 10_000;
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    public static string Address(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>How long the address must wait, or null when it may try.</summary>
    public TimeSpan? RetryAfter(string address)
    {
        if (!_windows.TryGetValue(address, out var window))
        {
            return null;
        }

        var left = window.Start + Length - time.GetUtcNow();
        return window.Failures >= options.Value.FailedAuthLimit && left > TimeSpan.Zero ? left : null;
    }

    /// <summary>Counts a refused key against the address this request came from.</summary>
    public static void RecordFailure(HttpContext context) =>
        context.RequestServices.GetRequiredService<FailedAuthLimiter>().RecordFailure(Address(context));

    public void RecordFailure(string address)
    {
        var now = time.GetUtcNow();
        _windows.AddOrUpdate(address, _ => new Window(now, 1), (_, w) => now >= w.Start + Length ? new Window(now, 1) : w with { Failures = w.Failures + 1 });
        if (_windows.Count > PruneAbove)
        {
            foreach (var (key, window) in _windows)
            {
                if (now >= window.Start + Length)
                {
                    _windows.TryRemove(key, out _);
                }
            }
        }
    }

    private TimeSpan Length => TimeSpan.FromSeconds(Math.Max(1, options.Value.FailedAuthWindowSeconds));

    private sealed record Window(DateTimeOffset Start, int Failures);

    /// <summary>Answers 429 before authentication runs for an address over its limit.</summary>
    public static async Task Middleware(HttpContext context, Func<Task> next)
    {
        if (ApiKeyAuthenticationHandler.BearerToken(context.Request) is not null
            && context.RequestServices.GetRequiredService<FailedAuthLimiter>().RetryAfter(Address(context)) is { } wait)
        {
            var seconds = (int)Math.Ceiling(wait.TotalSeconds);
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await Problems.Write(context, Problems.Problem(StatusCodes.Status429TooManyRequests, Problems.TooManyFailedAuthType,
                "Too many failed authentications.", $"Too many requests with unknown keys came from this address; try again in {seconds} s."));
            return;
        }

        await next();
    }
}
