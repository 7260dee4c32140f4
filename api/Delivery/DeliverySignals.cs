using System.Collections.Concurrent;
using System.Threading.Channels;

namespace WebhooksApi.Delivery;

/// <summary>
/// Wakes the dispatcher when new work is committed, so a first attempt starts within
/// milliseconds instead of at the next poll; and lets a `wait=true` caller wait for the
/// first attempt of its delivery.
/// </summary>
internal sealed class DeliverySignals
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiters = new();

    /// <summary>When the last wait ended: on the clock it was given (UTC ticks, 0 for never), and on the real one.</summary>
    private long _lastWakeTicks;
    private long _lastWakeTimestamp;

    public void WorkAvailable() => _wake.Writer.TryWrite(true);

    /// <summary>Returns when woken or when <paramref name="poll"/> has passed on the given clock.</summary>
    /// <remarks>
    /// One exception: when the given clock has jumped at least a poll ahead of real time since the
    /// last wait ended, it returns at once. The claim in between looked for due work with the old
    /// time; a timer armed now would count a poll from the new time, on a clock that may not move
    /// again (a test's fake clock), and the retries the jump made due would stall until something
    /// else woke the loop. With a real clock the two never drift apart, so nothing changes there.
    /// </remarks>
    public async Task WaitForWorkAsync(TimeSpan poll, TimeProvider time, CancellationToken cancellationToken)
    {
        var last = Interlocked.Read(ref _lastWakeTicks);
        if (last != 0)
        {
            var moved = TimeSpan.FromTicks(time.GetUtcNow().UtcTicks - last);
            var real = System.Diagnostics.Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastWakeTimestamp));
            if (moved - real >= poll)
            {
                Woke(time);
                return;
            }
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(poll, time, timeout.Token);
        var woken = _wake.Reader.WaitToReadAsync(timeout.Token).AsTask();
        await Task.WhenAny(delay, woken);
        await timeout.CancelAsync();
        Woke(time);
    }

    private void Woke(TimeProvider time)
    {
        _wake.Reader.TryRead(out _);
        Interlocked.Exchange(ref _lastWakeTicks, time.GetUtcNow().UtcTicks);
        Interlocked.Exchange(ref _lastWakeTimestamp, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>Registers interest before the delivery is committed, so the attempt cannot finish unseen.</summary>
    public Task AttemptFinished(Guid deliveryId) =>
        _waiters.GetOrAdd(deliveryId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Forget(Guid deliveryId) => _waiters.TryRemove(deliveryId, out _);

    public void NotifyAttemptFinished(Guid deliveryId)
    {
        if (_waiters.TryRemove(deliveryId, out var waiter))
        {
            waiter.TrySetResult();
        }
    }
}
