namespace WebhooksApi.Tests.Infrastructure;

/// <summary>Waits for a condition with a deadline: no sleeps that guess how long work takes.</summary>
public static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(20));
        T value;
        while (!done(value = await probe()))
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException($"Timed out waiting for {what}; last value: {value}");
            }

            await Task.Delay(15);
        }

        return value;
    }

    public static Task WaitAsync(Func<bool> condition, string what, TimeSpan? deadline = null) =>
        WaitAsync(() => Task.FromResult(condition()), done => done, what, deadline);
}
