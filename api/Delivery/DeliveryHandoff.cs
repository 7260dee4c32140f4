using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>
/// Lets an accept write its rows already claimed by this node's dispatcher, when it has room for
/// them, and hand them over once they are committed: no claim statement, no claim's row version.
/// </summary>
/// <remarks>
/// Why: at 1,000 single executions a second (the `latency` benchmark, issue #8) the dispatcher
/// ran a claim for every ~2 rows, 14,124 claims for 31,000 deliveries, and they took ~45% of the
/// SQLite writer's time; every claim is also a row version with an entry in each index on
/// PostgreSQL. An accept takes only what the claim would have taken at once: rows due now, of a
/// connection that is not ordered, not slow and not at its concurrency limit plus queue here,
/// while a request slot is free. Everything else is written pending and claimed as before.
/// A row is written `delivering` with a lease, like a claim's, in the accept's own transaction:
/// if the node dies before sending it, it goes back to pending when the lease runs out. It is
/// sent only once its accept has committed (on SQLite, once the log holding it is synced).
/// Measured at 1,000/s: 41 claims instead of 14,124 in a run, the writer's time -49%, CPU per
/// execution 1.21-1.30 ms against 1.41-1.57, 202 -> receiver p50 0.18-0.20 ms against 0.47-1.26
/// and p99 2.0-3.3 ms against 7.4-10.7 (alternated runs).
/// </remarks>
internal sealed class DeliveryHandoff
{
    private volatile Dispatcher? _dispatcher;

    /// <summary>The dispatcher takes rows from now on, until it stops (see Dispatcher.Reserve).</summary>
    public void Attach(Dispatcher dispatcher) => _dispatcher = dispatcher;

    /// <summary>
    /// Reserves this node's room for what it can take of <paramref name="rows"/> (before they are
    /// written); null when it takes none. The reservation's <see cref="Reservation.Rows"/> are the
    /// rows to write; it must end in <see cref="Reservation.Start"/> once they committed or
    /// <see cref="Reservation.Cancel"/> when they did not.
    /// </summary>
    public Reservation? Reserve(IReadOnlyList<WebhookDelivery> rows) => _dispatcher?.Reserve(rows);
}

/// <summary>Rows of one accept claimed for this node's dispatcher before they were written.</summary>
internal sealed class Reservation(Dispatcher dispatcher, IReadOnlyList<WebhookDelivery> rows, List<(WebhookDelivery Row, bool Slow)> claimed, Guid token)
{
    private int _ended;

    /// <summary>The accept's rows as they are written: the claimed ones as copies under the claim's token.</summary>
    public IReadOnlyList<WebhookDelivery> Rows { get; } = rows;

    /// <summary>True when every row of the accept is claimed here: none is left pending for a claim to find.</summary>
    public bool All => claimed.Count == Rows.Count;

    internal List<(WebhookDelivery Row, bool Slow)> Claimed => claimed;

    internal Guid Token => token;

    /// <summary>The rows are committed: send them.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            dispatcher.Start(this);
        }
    }

    /// <summary>The rows were not written (or their caller was not told they were): give the room back.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            dispatcher.Cancel(this);
        }
    }
}
