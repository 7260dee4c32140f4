using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace WebhooksApi.Delivery;

/// <summary>
/// Per-connection concurrency and rate limits for this node. Each connection waits on its own
/// gate, so a slow endpoint queues its own deliveries and never anyone else's.
/// </summary>
/// <remarks>
/// A gate lives while its connection sends: <see cref="Forget"/> drops the ones nobody has used
/// for a while. Before, every connection a node ever sent to kept its gate for the life of the
/// process, and a rate-limited one kept a token bucket whose timer fired every second: a node
/// serving 100,000 connections over a week ran 100,000 timers a second for endpoints long idle.
/// A gate replaced because its connection's limits changed is disposed when its last user leaves.
/// </remarks>
internal sealed class ConnectionLimiters(TimeProvider time) : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Gate> _gates = new();

    /// <summary>Connections with a gate on this node now.</summary>
    public int Count => _gates.Count;

    public async ValueTask<IDisposable> EnterAsync(Guid connectionId, int maxConcurrency, int? ratePerSecond, CancellationToken cancellationToken)
    {
        var gate = Use(connectionId, maxConcurrency, ratePerSecond);
        try
        {
            await gate.Concurrency.WaitAsync(cancellationToken);
        }
        catch
        {
            gate.Leave(time.GetTimestamp());
            throw;
        }

        try
        {
            if (gate.Rate is not null)
            {
                using var lease = await gate.Rate.AcquireAsync(1, cancellationToken);
            }
        }
        catch
        {
            gate.Concurrency.Release();
            gate.Leave(time.GetTimestamp());
            throw;
        }

        return new Release(gate, time);
    }

    /// <summary>
    /// Drops the gates no one has waited on or held for <paramref name="idle"/> or longer; returns
    /// how many. A connection that sends again gets a fresh gate with its current limits.
    /// </summary>
    public int Forget(TimeSpan idle)
    {
        var now = time.GetTimestamp();
        var forgotten = 0;
        foreach (var (connectionId, gate) in _gates)
        {
            // Retire first (no user can enter a retired gate), then remove exactly this gate.
            if (time.GetElapsedTime(gate.LastUsed, now) >= idle && gate.TryRetire())
            {
                _gates.TryRemove(KeyValuePair.Create(connectionId, gate));
                gate.Dispose();
                forgotten++;
            }
        }

        return forgotten;
    }

    public void Dispose()
    {
        foreach (var gate in _gates.Values)
        {
            gate.Dispose();
        }
    }

    /// <summary>The connection's gate with these limits, counted as used until <see cref="Gate.Leave"/>.</summary>
    private Gate Use(Guid connectionId, int maxConcurrency, int? ratePerSecond)
    {
        while (true)
        {
            if (!_gates.TryGetValue(connectionId, out var gate))
            {
                var created = new Gate(maxConcurrency, ratePerSecond, time.GetTimestamp());
                gate = _gates.GetOrAdd(connectionId, created);
                if (gate != created)
                {
                    created.Dispose();
                }
            }
            else if (!gate.Matches(maxConcurrency, ratePerSecond))
            {
                // New limits: later requests use a new gate; the old one goes when its users leave.
                var replacement = new Gate(maxConcurrency, ratePerSecond, time.GetTimestamp());
                if (!_gates.TryUpdate(connectionId, replacement, gate))
                {
                    replacement.Dispose();
                    continue;
                }

                gate.Replaced();
                gate = replacement;
            }

            // A gate retired by Forget (or replaced meanwhile and emptied) takes no one: look again.
            if (gate.TryEnter())
            {
                return gate;
            }
        }
    }

    private sealed class Gate(int maxConcurrency, int? ratePerSecond, long createdAt) : IDisposable
    {
        /// <summary>Requests waiting at or inside the gate; -1 once retired.</summary>
        private int _users;
        private int _replaced;
        private long _lastUsed = createdAt;

        public SemaphoreSlim Concurrency { get; } = new(maxConcurrency, maxConcurrency);

        public RateLimiter? Rate { get; } = ratePerSecond is { } rate
            ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = rate,
                TokensPerPeriod = rate,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = int.MaxValue,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                AutoReplenishment = true,
            })
            : null;

        /// <summary>When a user last left (or the gate was made); meaningful while no one uses it.</summary>
        public long LastUsed => Interlocked.Read(ref _lastUsed);

        public bool Matches(int maxConcurrency2, int? rate2) => maxConcurrency2 == maxConcurrency && rate2 == ratePerSecond;

        public bool TryEnter()
        {
            var users = Volatile.Read(ref _users);
            while (users >= 0)
            {
                var seen = Interlocked.CompareExchange(ref _users, users + 1, users);
                if (seen == users)
                {
                    return true;
                }

                users = seen;
            }

            return false;
        }

        public void Leave(long now)
        {
            Interlocked.Exchange(ref _lastUsed, now);
            if (Interlocked.Decrement(ref _users) == 0 && Volatile.Read(ref _replaced) == 1 && TryRetire())
            {
                Dispose();
            }
        }

        /// <summary>Another gate took this one's place: dispose it now if unused, else when its last user leaves.</summary>
        public void Replaced()
        {
            Volatile.Write(ref _replaced, 1);
            if (TryRetire())
            {
                Dispose();
            }
        }

        /// <summary>Retires the gate if no one uses it; true when this call retired it.</summary>
        public bool TryRetire() => Interlocked.CompareExchange(ref _users, -1, 0) == 0;

        public void Dispose()
        {
            Concurrency.Dispose();
            Rate?.Dispose();
        }
    }

    private sealed class Release(Gate gate, TimeProvider time) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Concurrency.Release();
                gate.Leave(time.GetTimestamp());
            }
        }
    }
}
