namespace WebhooksApi.Delivery;

internal sealed class DispatcherOptions
{
    public const string Section = "Delivery";

    /// <summary>Run the dispatcher on this node (default true). Off: the node only accepts work.</summary>
    public bool DispatcherEnabled { get; set; } = true;

    /// <summary>How often the dispatcher looks for due retries when nothing wakes it (default 1 s).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Rows claimed at once (default 500).</summary>
    public int BatchSize { get; set; } = 500;

    /// <summary>Requests in flight on this node, all connections together (default 1024).</summary>
    public int MaxInFlight { get; set; } = 1024;

    /// <summary>How long a claim holds a row before another node may take it back (default 2 min).</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long requests in flight at shutdown may take to finish (default 10 s).</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Held deliveries older than this fail with reason `expired` (default 72 h).</summary>
    public TimeSpan HoldLimit { get; set; } = TimeSpan.FromHours(72);
}
