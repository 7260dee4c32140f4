using Microsoft.Extensions.Time.Testing;
using WebhooksApi.Delivery;

namespace WebhooksApi.Tests.Unit;

public sealed class ConnectionLimitersTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task A_gate_unused_for_the_idle_window_is_forgotten_and_the_connection_gets_a_fresh_one_with_its_limit()
    {
        using var limiters = new ConnectionLimiters(_time);
        var quiet = Guid.NewGuid();
        var busy = Guid.NewGuid();
        (await limiters.EnterAsync(quiet, 1, null, CancellationToken.None)).Dispose();
        using var held = await limiters.EnterAsync(busy, 1, null, CancellationToken.None);
        _time.Advance(Idle);

        // The held gate stays whatever its age: someone is inside it.
        Assert.Equal(1, limiters.Forget(Idle));
        Assert.Equal(1, limiters.Count);

        using var first = await limiters.EnterAsync(quiet, 1, null, CancellationToken.None);
        var second = limiters.EnterAsync(quiet, 1, null, CancellationToken.None);
        Assert.False(second.IsCompleted);
        first.Dispose();
        (await second.AsTask().WaitAsync(Deadline)).Dispose();
        Assert.Equal(2, limiters.Count);
    }

    [Fact]
    public async Task A_gate_with_someone_waiting_at_it_is_never_forgotten()
    {
        using var limiters = new ConnectionLimiters(_time);
        var connection = Guid.NewGuid();
        var holder = await limiters.EnterAsync(connection, 1, null, CancellationToken.None);
        var waiter = limiters.EnterAsync(connection, 1, null, CancellationToken.None);
        _time.Advance(Idle * 3);

        Assert.Equal(0, limiters.Forget(Idle));
        holder.Dispose();
        (await waiter.AsTask().WaitAsync(Deadline)).Dispose();

        // Its last user just left: idle from now, not from when it was made.
        Assert.Equal(0, limiters.Forget(Idle));
        _time.Advance(Idle);
        Assert.Equal(1, limiters.Forget(Idle));
    }

    [Fact]
    public async Task New_limits_take_a_new_gate_at_once_and_the_old_one_lets_its_holder_leave()
    {
        using var limiters = new ConnectionLimiters(_time);
        var connection = Guid.NewGuid();
        var old = await limiters.EnterAsync(connection, 1, null, CancellationToken.None);

        using var a = await limiters.EnterAsync(connection, 2, null, CancellationToken.None).AsTask().WaitAsync(Deadline);
        using var b = await limiters.EnterAsync(connection, 2, null, CancellationToken.None).AsTask().WaitAsync(Deadline);
        var c = limiters.EnterAsync(connection, 2, null, CancellationToken.None);
        Assert.False(c.IsCompleted);

        old.Dispose();
        Assert.False(c.IsCompleted);
        Assert.Equal(1, limiters.Count);
        a.Dispose();
        (await c.AsTask().WaitAsync(Deadline)).Dispose();
    }

    [Fact]
    public async Task Forgetting_while_requests_come_and_go_never_lets_more_than_the_limit_in_at_once()
    {
        using var limiters = new ConnectionLimiters(_time);
        var connection = Guid.NewGuid();
        const int Limit = 3;
        var inside = 0;
        var most = 0;
        var entries = 0;
        var counts = new object();
        using var stop = new CancellationTokenSource();

        async Task Worker()
        {
            while (!stop.IsCancellationRequested)
            {
                using (await limiters.EnterAsync(connection, Limit, null, CancellationToken.None))
                {
                    lock (counts)
                    {
                        most = Math.Max(most, ++inside);
                    }

                    await Task.Yield();
                    lock (counts)
                    {
                        inside--;
                    }
                }

                Interlocked.Increment(ref entries);
                if (Random.Shared.Next(8) == 0)
                {
                    // Now and then everyone is outside at once: the moments Forget can retire the gate.
                    await Task.Delay(1);
                }
            }
        }

        var workers = Enumerable.Range(0, 6).Select(_ => Task.Run(Worker)).ToList();
        var forgotten = 0;
        // With no idle window each Forget retires the gate whenever it finds it empty.
        var deadline = DateTime.UtcNow + Deadline;
        while ((Volatile.Read(ref entries) < 20_000 || forgotten == 0) && DateTime.UtcNow < deadline)
        {
            forgotten += limiters.Forget(TimeSpan.Zero);
            await Task.Yield();
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(Deadline);

        Assert.True(Volatile.Read(ref entries) >= 20_000, $"only {entries} entries before the deadline");
        Assert.True(forgotten > 0, "no gate was ever empty when Forget looked");
        Assert.InRange(most, 1, Limit);
    }
}
