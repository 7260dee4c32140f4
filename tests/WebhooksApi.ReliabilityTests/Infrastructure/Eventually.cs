namespace WebhooksApi.ReliabilityTests.Infrastructure;

/// <summary>Waits for a condition with a deadline: no sleeps that guess how long work takes.</summary>
public static class Eventually
{
    /// <param name="poll">Between probes; a probe that costs the service work (a query) should not run back to back.</param>
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan deadline, TimeSpan? poll = null)
    {
        var until = DateTime.UtcNow + deadline;
        T value;
        while (!done(value = await probe()))
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"Timed out after {deadline} waiting for {what}; last value: {value}");
            }

            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(25));
        }

        return value;
    }

    public static Task WaitAsync(Func<bool> condition, string what, TimeSpan deadline) =>
        WaitAsync(() => Task.FromResult(condition()), done => done, what, deadline);
}
