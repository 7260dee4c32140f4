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

    /// <summary>
    /// Deliveries this node holds at once, all connections together (default 8 x
    /// <see cref="MaxInFlight"/>): claimed or handed over by their accept, waiting at their
    /// connection's gate, in flight, or waiting for their result to be written. Slow connections
    /// and ones not measured yet share <see cref="MaxInFlight"/> of them, as every connection's
    /// first rows do; the rest ("deep" slots) only take rows of a connection known to answer fast
    /// once it holds its limit plus a queue, handed over by an accept or claimed, up to an eighth
    /// of them per connection (see Dispatcher.Reserve and ClaimDeepAsync).
    /// </summary>
    /// <remarks>
    /// Why: a row an accept hands over (see DeliveryHandoff) is written already claimed, while one
    /// left behind waits in the database for a claim, a statement on SQLite's one writer (~23 us
    /// a row). With only MaxInFlight rows (a queue of 100 a connection), a fast connection's
    /// accepts soon found its queue full and most rows went the claim's way: `throughput` over
    /// 100,000 executions delivered 7,500-9,300/s; with deep slots 9,900-13,500/s, and a stopped
    /// connection's backlog of 100,000 drains at 11,900-13,800/s instead of 9,400-10,800 (issue
    /// #8). A row waiting at its connection's gate costs a few kilobytes, not a socket: requests
    /// in flight stay within MaxInFlight.
    /// </remarks>
    public int? MaxClaimed { get; set; }

    /// <summary>The deliveries this node may hold: the setting, or 8 x <see cref="MaxInFlight"/>, never fewer than <see cref="MaxInFlight"/> (then there are no deep slots).</summary>
    public int ClaimedLimit => Math.Max(Math.Max(1, MaxInFlight), MaxClaimed ?? (MaxInFlight * 8));

    /// <summary>
    /// A connection whose moving average of response times is at or above this is slow (default
    /// 100 ms): while a responsive connection is busy, slow ones share <see cref="SlowLaneSlots"/>.
    /// </summary>
    public TimeSpan SlowResponseThreshold { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Claimed rows slow connections may hold together while a responsive connection is busy
    /// (default <see cref="MaxInFlight"/> / 16). While none is, they may hold all slots but this
    /// many, kept for a responsive connection's next work.
    /// </summary>
    /// <remarks>
    /// Why a sixteenth: every slow request costs the node what a fast one does (a claim, a result,
    /// an attempt row), so the lane's slots decide what share of a busy node slow endpoints take:
    /// 64 slots at 200 ms is at most 320 requests/s. A fast connection beside 1,000 slow ones
    /// kept 0.61-0.63 of its solo rate with an eighth (128; 0.59 once the lane's claims went by
    /// turns), 0.67-0.70 with 64 and turns (issue #8, `fanout`).
    /// </remarks>
    public int? SlowLaneSlots { get; set; }

    /// <summary>The slow lane's size: the setting, or a sixteenth of the slots, within 1 .. MaxInFlight.</summary>
    public int SlowLaneSize => Math.Clamp(SlowLaneSlots ?? (MaxInFlight / 16), 1, Math.Max(1, MaxInFlight));

    /// <summary>How long a claim holds a row before another node may take it back (default 2 min).</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long requests in flight at shutdown may take to finish (default 10 s).</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a delivery's URL, header and body templates may take to render (default 1 s). A
    /// render stopped by it is logged as template_error and retried on the connection's schedule:
    /// the template's own budgets (loops, output size) stop a runaway template on any machine,
    /// so running out of time says the node was busy, not that the template is broken.
    /// </summary>
    public TimeSpan TemplateRenderTimeLimit { get; set; } = Features.Connections.ConnectionTemplates.RenderTimeLimit;

    /// <summary>Held deliveries older than this fail with reason `expired` (default 72 h).</summary>
    public TimeSpan HoldLimit { get; set; } = TimeSpan.FromHours(72);
}
