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

    private long _workEpoch;

    /// <summary>Wakes the dispatcher: something it left out of its last claim may be claimable now (a slot or a lane freed).</summary>
    public void WorkAvailable() => _wake.Writer.TryWrite(true);

    /// <summary>New work was committed on this node (executions, a connection activated, a retry asked for): wakes the dispatcher and moves <see cref="WorkEpoch"/>.</summary>
    public void NewWork()
    {
        Interlocked.Increment(ref _workEpoch);
        WorkAvailable();
    }

    /// <summary>Moves each time new work is committed on this node (see SlowLane.NothingDue).</summary>
    public long WorkEpoch => Interlocked.Read(ref _workEpoch);

    /// <summary>Returns when woken or when <paramref name="poll"/> has passed on the given clock.</summary>
    public Task WaitForWorkAsync(TimeSpan poll, TimeProvider time, CancellationToken cancellationToken) =>
        WaitForWorkAsync(time.GetUtcNow() + poll, time, cancellationToken);

    /// <summary>
    /// Returns when woken or at <paramref name="until"/> on the given clock. Waiting for a point in
    /// time, not a duration: if the clock passed it while the caller was busy (a test clock jumps,
    /// a claim was slow), there is no wait at all, instead of a fresh full interval from now.
    /// </summary>
    public async Task WaitForWorkAsync(DateTimeOffset until, TimeProvider time, CancellationToken cancellationToken)
    {
        var remaining = until - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            _wake.Reader.TryRead(out _);
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(remaining, time, timeout.Token);
        // The timer counts `remaining` from the clock as it reads when the timer is made. A clock
        // that jumped past `until` after `remaining` was read but before that (a test clock moved
        // by another thread, seen under load) would leave the timer due only after a second jump
        // that may never come: look at the clock again now that the timer exists.
        if (time.GetUtcNow() < until)
        {
            var woken = _wake.Reader.WaitToReadAsync(timeout.Token).AsTask();
            await Task.WhenAny(delay, woken);
        }

        await timeout.CancelAsync();
        _wake.Reader.TryRead(out _);
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
