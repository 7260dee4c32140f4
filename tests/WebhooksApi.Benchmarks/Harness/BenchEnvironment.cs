using System.Diagnostics;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>What one run stands on: a fresh database, the service on it, and a receiver.</summary>
internal sealed class BenchEnvironment : IAsyncDisposable
{
    private BenchEnvironment(BenchDatabase database, ServiceHost service, BenchReceiver receiver)
    {
        Database = database;
        Service = service;
        Receiver = receiver;
    }

    public BenchDatabase Database { get; }

    public ServiceHost Service { get; }

    public BenchReceiver Receiver { get; }

    public HttpClient Api => Service.Client;

    public static async Task<BenchEnvironment> StartAsync(string provider, IReadOnlyDictionary<string, string>? settings, CancellationToken cancellationToken)
    {
        var receiver = await BenchReceiver.StartAsync(cancellationToken);
        var database = await BenchDatabase.CreateAsync(provider, cancellationToken);
        try
        {
            var service = await ServiceHost.StartAsync(database, settings, cancellationToken);
            return new BenchEnvironment(database, service, receiver);
        }
        catch
        {
            await receiver.DisposeAsync();
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>Delivery attempts logged so far (the end of "accepted -> 2xx -> logged").</summary>
    public Task<long> AttemptsAsync(CancellationToken cancellationToken) =>
        Database.ScalarAsync("SELECT count(*) FROM attempts WHERE is_test = " + (Database.IsPostgres ? "false" : "0"), cancellationToken);

    public Task<long> DeliveriesAsync(string status, CancellationToken cancellationToken) =>
        Database.ScalarAsync($"SELECT count(*) FROM deliveries WHERE status = '{status}'", cancellationToken);

    /// <summary>
    /// Waits until <paramref name="expected"/> delivery attempts are logged. The wait watches the
    /// dispatcher's count of committed results, in memory; the database is asked only once that
    /// count is reached, to confirm. Polling <c>count(*)</c> instead scanned the attempts table
    /// twenty times a second: at 100,000 rows that was 15% of the process's CPU, charged to the
    /// service's figures (CPU per delivery) and taken from its cores.
    /// </summary>
    public async Task UntilAttemptsLoggedAsync(long expected, TimeSpan deadline, string what, CancellationToken cancellationToken)
    {
        var dispatcher = Service.Services.GetRequiredService<WebhooksApi.Delivery.Dispatcher>();
        var clock = Stopwatch.StartNew();
        await UntilAsync(() => Task.FromResult(dispatcher.Recorded >= expected), deadline, what, cancellationToken, pollMs: 5);
        await UntilAsync(async () => await AttemptsAsync(cancellationToken) >= expected, deadline - clock.Elapsed, what + " (in the database)", cancellationToken, pollMs: 5);
    }

    /// <summary>Polls until <paramref name="done"/> holds or the deadline passes (then throws: a scenario that stalls must fail, not hang).</summary>
    public static async Task UntilAsync(Func<Task<bool>> done, TimeSpan deadline, string what, CancellationToken cancellationToken, int pollMs = 50)
    {
        var clock = Stopwatch.StartNew();
        while (!await done())
        {
            if (clock.Elapsed > deadline)
            {
                throw new TimeoutException($"Gave up after {deadline.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(pollMs, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        await Receiver.DisposeAsync();
        await Database.DisposeAsync();
    }
}

/// <summary>Samples this process's working set (service, receiver and client together) for its peak.</summary>
internal sealed class MemorySampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;

    public MemorySampler()
    {
        _loop = Task.Run(async () =>
        {
            using var process = Process.GetCurrentProcess();
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            try
            {
                do
                {
                    process.Refresh();
                    InterlockedMax(ref _peak, process.WorkingSet64);
                }
                while (await timer.WaitForNextTickAsync(_stop.Token));
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        });
    }

    public double PeakMb => Interlocked.Read(ref _peak) / 1024.0 / 1024.0;

    /// <summary>CPU time this process has used (all threads), to express work per delivery independently of the machine's other load.</summary>
    public static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>
    /// Where the working set is, in MB: the managed heap (after the last GC), SQLite's own
    /// allocations (page caches and statements of every connection, process-wide), and the
    /// resident pages of mapped files (the runtime's and libraries' code, SQLite's shared-memory
    /// index); the rest of the working set is other native memory (the runtime, sockets, malloc's arenas).
    /// </summary>
    public static (double Heap, double Committed, double Sqlite, double SqlitePeak, double Files) Parts()
    {
        var gc = GC.GetGCMemoryInfo();
        var heap = gc.HeapSizeBytes / 1024.0 / 1024.0;
        var committed = gc.TotalCommittedBytes / 1024.0 / 1024.0;
        var sqlitePeak = SQLitePCL.raw.sqlite3_memory_highwater(0) / 1024.0 / 1024.0;
        var sqlite = SQLitePCL.raw.sqlite3_memory_used() / 1024.0 / 1024.0;
        var files = 0.0;
        // Linux only: elsewhere the part stays 0.
        foreach (var line in File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status") : [])
        {
            if (line.StartsWith("RssFile:", StringComparison.Ordinal) || line.StartsWith("RssShmem:", StringComparison.Ordinal))
            {
                files += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return (heap, committed, sqlite, sqlitePeak, files);
    }

    public static double CurrentMb()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / 1024.0 / 1024.0;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
