using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace WebhooksApi.Delivery;

/// <summary>
/// Per-connection concurrency and rate limits for this node. Each connection waits on its own
/// gate, so a slow endpoint queues its own deliveries and never anyone else's.
/// </summary>
internal sealed class ConnectionLimiters : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Gate> _gates = new();

    public async ValueTask<IDisposable> EnterAsync(Guid connectionId, int maxConcurrency, int? ratePerSecond, CancellationToken cancellationToken)
    {
        var gate = _gates.AddOrUpdate(
            connectionId,
            _ => new Gate(maxConcurrency, ratePerSecond),
            (_, existing) => existing.Matches(maxConcurrency, ratePerSecond) ? existing : new Gate(maxConcurrency, ratePerSecond));
        await gate.Concurrency.WaitAsync(cancellationToken);
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
            throw;
        }

        return new Release(gate.Concurrency);
    }

    public void Dispose()
    {
        foreach (var gate in _gates.Values)
        {
            gate.Dispose();
        }
    }

    private sealed class Gate(int maxConcurrency, int? ratePerSecond) : IDisposable
    {
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

        public bool Matches(int maxConcurrency2, int? rate2) => maxConcurrency2 == maxConcurrency && rate2 == ratePerSecond;

        public void Dispose()
        {
            Concurrency.Dispose();
            Rate?.Dispose();
        }
    }

    private sealed class Release(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                semaphore.Release();
            }
        }
    }
}
