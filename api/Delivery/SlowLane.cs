using System.Collections.Concurrent;

namespace WebhooksApi.Delivery;

/// <summary>
/// Keeps slow endpoints from taking a responsive endpoint's throughput on this node. Each
/// connection's response time is followed as a moving average; one whose average is at or above
/// the threshold is slow. While any responsive connection is busy here (has claimed-and-unfinished
/// rows, or had until less than one threshold ago), slow connections together may hold at most
/// <see cref="Slots"/> claimed rows. When none is busy they may hold all of the node's slots but a
/// reserve of the same size (<see cref="Ceiling"/>): a node whose endpoints are all slow is barely
/// throttled, and work for a responsive connection starts at once instead of waiting for slow
/// requests to end and free their slots.
/// </summary>
/// <remarks>
/// Why: a node is CPU-bound long before its request slots run out. 100 slow connections (200 ms
/// answers, 10 concurrent each) can absorb 1,024 slots / 0.2 s = 5,120 requests/s, more than the
/// node can send, and claims go connection by connection, so they got ~100/101 of every claim:
/// a fast connection beside them kept 0.22 of its solo rate (issue #8, `fanout`).
/// The reserve: before it, slow rows claimed while nothing responsive was busy filled every slot,
/// and a responsive connection's first work waited up to a slow request's duration (200 ms in
/// `fanout`) for a slot; the fanout benchmark's fast phase is about 0.4 s.
/// Each claimed row counts in the lane its connection was in when it was claimed, and leaves that
/// same lane when it finishes, so the counts stay exact while a classification changes.
/// A row is unfinished until its slot is released (its result written). A responsive endpoint
/// answering in a millisecond can still be without claimed rows for a moment between two claims,
/// its backlog waiting in the database: it stays busy for one threshold after its last row, a
/// real-time linger (network time, not the test clock), short beside any slow request it holds back.
/// </remarks>
internal sealed class SlowLane
{
    /// <summary>Weight of the newest response time in a connection's average.</summary>
    public const double Alpha = 0.2;

    private readonly ConcurrentDictionary<Guid, Average> _averageMs = new();
    private readonly ConcurrentDictionary<Guid, long> _nothingDueSince = new();
    private readonly TimeSpan _recheck;
    private long _dryEpoch;
    private readonly TimeProvider _time;
    private readonly TimeSpan _threshold;
    private readonly double _thresholdMs;
    private readonly int _reopenAt;
    private readonly int _ceiling;
    private int _slowClaimed;
    private int _responsiveClaimed;
    private long _responsiveIdleSince = long.MinValue;
    private int _turn;

    /// <param name="slots">The lane's size while a responsive connection is busy.</param>
    /// <param name="inFlight">The node's requests in flight, all connections together (MaxInFlight): slow rows, each soon a request, are held to it less the reserve.</param>
    /// <param name="recheck">How long a slow connection found with nothing due is left out of the lane's claims (see <see cref="NothingDue"/>); 1 s when not given.</param>
    public SlowLane(int slots, int inFlight, TimeSpan threshold, TimeProvider time, TimeSpan? recheck = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        Slots = slots;
        _recheck = recheck ?? TimeSpan.FromSeconds(1);
        _ceiling = Math.Max(slots, inFlight - slots);
        _time = time;
        _threshold = threshold;
        _thresholdMs = threshold.TotalMilliseconds;
        // Hysteresis: a lane with only a few free slots is left closed until a quarter is free,
        // or every slow row finishing would start a claim of one row (a claim reads every
        // connection's due rows: hundreds of one-row claims a second cost more than they send).
        _reopenAt = Math.Max(1, slots / 4);
    }

    /// <summary>Claimed rows slow connections may hold together while a responsive one is busy.</summary>
    public int Slots { get; }

    /// <summary>Claimed rows slow connections may hold together while no responsive one is busy: all the node's slots but a reserve.</summary>
    public int Ceiling => _ceiling;

    /// <summary>Rows claimed while their connection was slow, not yet finished.</summary>
    public int SlowClaimed => Volatile.Read(ref _slowClaimed);

    /// <summary>True while a responsive connection has claimed-and-unfinished rows on this node, or had them less than one threshold ago.</summary>
    public bool ResponsiveBusy =>
        Volatile.Read(ref _responsiveClaimed) > 0
        || (Interlocked.Read(ref _responsiveIdleSince) is var since && since != long.MinValue && _time.GetElapsedTime(since) < _threshold);

    /// <summary>Folds one request's response time into its connection's average; true when this answer made the average (the connection was not measured).</summary>
    public bool Observe(Guid connectionId, int durationMs)
    {
        // Called for every request sent: an add or a compare-and-swap, no closures to allocate.
        // An add that loses to another answer's goes round again as an update.
        var now = _time.GetTimestamp();
        while (true)
        {
            if (!_averageMs.TryGetValue(connectionId, out var average))
            {
                if (_averageMs.TryAdd(connectionId, new Average(durationMs, now)))
                {
                    return true;
                }
            }
            else if (_averageMs.TryUpdate(connectionId, new Average(average.Ms + (Alpha * (durationMs - average.Ms)), now), average))
            {
                return false;
            }
        }
    }

    /// <summary>
    /// A row of the connection finished without a request (its template failed to render): it held
    /// its slot for no time. For a connection not measured yet that is its first answer (an
    /// average of 0 ms, fast), so claims stop taking its rows one at a time; an average it already
    /// has is left as its requests made it. True when it made the average.
    /// </summary>
    /// <remarks>
    /// Why: a connection whose every row fails to render never gets a response time, and until it
    /// has one a claim takes one row of it at a time (see Dispatcher.ClaimResponsiveAsync): a
    /// backlog of such rows, due at once after a pause, would be worked off a claim per row.
    /// </remarks>
    public bool NotSent(Guid connectionId) => _averageMs.TryAdd(connectionId, new Average(0, _time.GetTimestamp()));

    /// <summary>The connection's average response time, or null before its first measured request (or after it was forgotten).</summary>
    public double? AverageMs(Guid connectionId) => _averageMs.TryGetValue(connectionId, out var average) ? average.Ms : null;

    /// <summary>Slow while the average is at or above the threshold; a connection never measured is responsive.</summary>
    public bool IsSlow(Guid connectionId) => SpeedOf(connectionId) == ConnectionSpeed.Slow;

    /// <summary>Measured here and answering under the threshold on average: known to be fast, not merely not known to be slow.</summary>
    public bool IsFast(Guid connectionId) => SpeedOf(connectionId) == ConnectionSpeed.Fast;

    /// <summary>What this node knows of the connection's answers, in one read: none yet, or its average under or at/above the threshold.</summary>
    public ConnectionSpeed SpeedOf(Guid connectionId) =>
        !_averageMs.TryGetValue(connectionId, out var average) ? ConnectionSpeed.Unmeasured
        : Slow(average) ? ConnectionSpeed.Slow
        : ConnectionSpeed.Fast;

    /// <summary>The connection has an average here: it answered a request since it was last forgotten.</summary>
    public bool IsMeasured(Guid connectionId) => SpeedOf(connectionId) != ConnectionSpeed.Unmeasured;

    /// <summary>Connections with an average on this node now.</summary>
    public int Measured => _averageMs.Count;

    /// <summary>
    /// Drops the averages of connections with no answer for <paramref name="idle"/> or longer;
    /// returns how many. Every connection a node ever sent to kept one before, and every claim's
    /// plan went through all of them: a slow endpoint deleted a month ago was still left out of
    /// claims, one list entry more each time. Forgotten, a connection is responsive again until
    /// its next answers say otherwise; its rows still leave the lane they were claimed in.
    /// </summary>
    public int Forget(TimeSpan idle)
    {
        var now = _time.GetTimestamp();
        var forgotten = 0;
        foreach (var entry in _averageMs)
        {
            // Removes exactly what was read: an answer folded in meanwhile keeps the average.
            if (_time.GetElapsedTime(entry.Value.At, now) >= idle && _averageMs.TryRemove(entry))
            {
                forgotten++;
            }
        }

        return forgotten;
    }

    /// <summary>What the next claim may take: connections to leave out, a cap on its size, and the slow connections now.</summary>
    public LanePlan Plan()
    {
        // With nobody slow, claims keep their full batch (capping them at the lane's room cost the
        // all-responsive throughput benchmark a claim per 128 rows instead of 500).
        var slow = SlowConnections();
        if (slow.Count == 0)
        {
            return LanePlan.Unlimited;
        }

        // A claim takes every connection's first row before anyone's second, so slow rows are at
        // most the whole batch: capping it at the room keeps the lane from overshooting.
        var room = (ResponsiveBusy ? Slots : _ceiling) - SlowClaimed;
        return room >= _reopenAt ? new LanePlan([], room, slow) : new LanePlan(slow, null, slow);
    }

    /// <summary>
    /// The next <paramref name="size"/> of the slow connections waiting for the lane, in turn: each
    /// call starts where the last one stopped, wrapping around, so every connection gets its turn
    /// however few rows each claim has room for. All of them when they are no more than that.
    /// Called from the dispatcher's one claim loop.
    /// </summary>
    /// <remarks>
    /// Why: a lane claim over every slow connection reads each one's due rows. Beside 1,000 slow
    /// connections that was 23-35 ms on the one writer for 64-128 rows, a few times a second.
    /// </remarks>
    public IReadOnlyList<Guid> NextTurn(IReadOnlyList<Guid> waiting, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (waiting.Count <= size)
        {
            return waiting;
        }

        var start = _turn % waiting.Count;
        _turn = (start + size) % waiting.Count;
        var turn = new List<Guid>(size);
        for (var i = 0; i < size; i++)
        {
            turn.Add(waiting[(start + i) % waiting.Count]);
        }

        return turn;
    }

    /// <summary>
    /// A lane claim read these slow connections and none had a row it could take (nothing due,
    /// its ordered head in flight, or no longer active): the next claims leave them out until
    /// one of their rows finishes here (<see cref="Finished"/>), new work is committed anywhere on
    /// this node (<paramref name="workEpoch"/> moves, see <see cref="Waiting"/>), or the recheck
    /// interval passes (a retry coming due, work accepted by another node).
    /// </summary>
    /// <remarks>
    /// Why: a lane claim reads its connections a turn at a time until it has its rows or has read
    /// them all. Beside 1,000 slow connections that were disabled (the fanout benchmark's phase
    /// after its loaded one), every claim for a fast connection was followed by ~30 lane
    /// statements that found nothing, on the one SQLite writer: a fast delivery there cost 36%
    /// more CPU than before the slow connections existed, 12% more with this (perf profiles of
    /// the two phases). The fast rate itself did not measurably move (issue #8).
    /// </remarks>
    public void NothingDue(IEnumerable<Guid> connectionIds, long workEpoch)
    {
        var now = _time.GetTimestamp();
        ForgetFindingsBefore(workEpoch);
        foreach (var id in connectionIds)
        {
            _nothingDueSince[id] = now;
        }
    }

    /// <summary>
    /// Of <paramref name="slow"/>, the connections a lane claim should read: all but those found
    /// with nothing due less than the recheck interval ago, since no new work (<paramref name="workEpoch"/>).
    /// </summary>
    public List<Guid> Waiting(IEnumerable<Guid> slow, long workEpoch)
    {
        ForgetFindingsBefore(workEpoch);
        if (_nothingDueSince.IsEmpty)
        {
            return [.. slow];
        }

        var now = _time.GetTimestamp();
        return [.. slow.Where(id => !_nothingDueSince.TryGetValue(id, out var since) || _time.GetElapsedTime(since, now) >= _recheck)];
    }

    /// <summary>New work since the epoch the findings were made under: any connection may have rows to take now.</summary>
    private void ForgetFindingsBefore(long workEpoch)
    {
        if (Interlocked.Exchange(ref _dryEpoch, workEpoch) != workEpoch)
        {
            _nothingDueSince.Clear();
        }
    }

    /// <summary>True when a connection is slow now.</summary>
    private bool AnySlow() => _averageMs.Any(a => Slow(a.Value));

    /// <summary>The connections slow now.</summary>
    public List<Guid> SlowConnections() => [.. _averageMs.Where(a => Slow(a.Value)).Select(a => a.Key)];

    /// <summary>A row of the connection was claimed here; returns the lane it counts in (true: slow).</summary>
    public bool Claimed(Guid connectionId)
    {
        var slow = IsSlow(connectionId);
        Interlocked.Increment(ref slow ? ref _slowClaimed : ref _responsiveClaimed);
        return slow;
    }

    /// <summary>
    /// A row of the connection, claimed in the given lane, finished. True when this finish may let
    /// slow rows be claimed that the last plan left out (the lane or the ceiling reached its
    /// reopening mark, or no responsive connection is busy any more): time to claim rather than
    /// wait for the next poll. The connection may have more work now (its ordered line moved, a
    /// retry was written), so a finding that it had nothing due (<see cref="NothingDue"/>) ends.
    /// </summary>
    public bool Finished(Guid connectionId, bool slow)
    {
        if (!_nothingDueSince.IsEmpty)
        {
            _nothingDueSince.TryRemove(connectionId, out _);
        }

        if (slow)
        {
            var left = Interlocked.Decrement(ref _slowClaimed);
            return left == Slots - _reopenAt || left == _ceiling - _reopenAt;
        }

        if (Interlocked.Decrement(ref _responsiveClaimed) > 0)
        {
            return false;
        }

        // The linger starts now. The slow rows in the lane wake the next claim as they finish, and
        // that claim finds the cap gone once the linger is over: nothing waits for a poll.
        // With no connection slow, no row was held back by the cap: nothing to claim for. Woken
        // anyway, at 1,000 single executions a second (each handed over by its accept, so a
        // responsive connection's count touched zero after almost every request) claims that
        // found nothing were most of the dispatcher's statements.
        Interlocked.Exchange(ref _responsiveIdleSince, _time.GetTimestamp());
        return AnySlow();
    }

    private bool Slow(Average average) => average.Ms >= _thresholdMs;

    /// <summary>A connection's moving average and the timestamp of the answer that last moved it.</summary>
    private readonly record struct Average(double Ms, long At);
}

/// <summary>What a node's slow lane knows of a connection (see SlowLane.SpeedOf).</summary>
internal enum ConnectionSpeed
{
    /// <summary>No answer here yet, or its average was forgotten: counted as responsive.</summary>
    Unmeasured,

    /// <summary>Answering under the threshold on average.</summary>
    Fast,

    /// <summary>Answering at or above the threshold on average.</summary>
    Slow,
}

/// <summary>
/// The slow lane's part in one claim: connections not to claim for, and the most rows the claim
/// may take (null: the batch size alone).
/// </summary>
/// <param name="Slow">The connections slow now (what the lane's own claim is for, while it has room).</param>
internal sealed record LanePlan(IReadOnlyList<Guid> Excluded, int? MaxRows, IReadOnlyList<Guid> Slow)
{
    public static LanePlan Unlimited { get; } = new([], null, []);
}
