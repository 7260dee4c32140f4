using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// A real Kestrel receiver on 127.0.0.1 that reads each request body and answers 200 (or 500
/// while <see cref="Failing"/> or for a <see cref="FailureRatio"/> of requests). Paths under
/// /slow/ answer after <see cref="SlowDelay"/>. It counts what arrived per second and, when
/// asked, notes when each webhook-id's first byte arrived.
/// </summary>
internal sealed class BenchReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly long[] _perSecond = new long[24 * 3600];
    private long _received;
    private long _ok;
    private long _fastOk;

    private BenchReceiver(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public long Received => Interlocked.Read(ref _received);

    public long Succeeded => Interlocked.Read(ref _ok);

    /// <summary>2xx answers on paths outside /slow/.</summary>
    public long FastSucceeded => Interlocked.Read(ref _fastOk);

    public volatile bool Failing;

    public double FailureRatio { get; set; }

    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>When set, the Stopwatch timestamp at which each webhook-id first arrived.</summary>
    public ConcurrentDictionary<string, long>? Arrivals { get; set; }

    public long StartedAt { get; } = Stopwatch.GetTimestamp();

    public string Url(string path) => new Uri(Address, path).ToString();

    /// <summary>Requests that arrived in each whole second since the receiver started.</summary>
    public long[] PerSecond(int fromSecond, int toSecond) => _perSecond[Math.Max(0, fromSecond)..Math.Min(_perSecond.Length, toSecond)];

    public int SecondNow => (int)Stopwatch.GetElapsedTime(StartedAt).TotalSeconds;

    public static async Task<BenchReceiver> StartAsync(CancellationToken cancellationToken)
    {
        // No configuration reload: its watcher covers the working directory recursively, and the
        // service's database and the profiler's files may be written there.
        var builder = WebApplication.CreateSlimBuilder(["--hostBuilder:reloadConfigOnChange=false"]);
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        var app = builder.Build();
        BenchReceiver? receiver = null;
        app.Run(async context =>
        {
            var arrived = Stopwatch.GetTimestamp();
            var self = receiver!;
            if (self.Arrivals is { } arrivals && context.Request.Headers["webhook-id"].ToString() is { Length: > 0 } id)
            {
                arrivals.TryAdd(id, arrived);
            }

            Interlocked.Increment(ref self._received);
            var second = (int)Stopwatch.GetElapsedTime(self.StartedAt, arrived).TotalSeconds;
            if (second < self._perSecond.Length)
            {
                Interlocked.Increment(ref self._perSecond[second]);
            }

            // Read the whole body, as a real endpoint would.
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(8192);
            try
            {
                while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0)
                {
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }

            var slow = context.Request.Path.StartsWithSegments("/slow");
            if (slow)
            {
                await Task.Delay(self.SlowDelay, context.RequestAborted);
            }

            if (self.Failing || (self.FailureRatio > 0 && Random.Shared.NextDouble() < self.FailureRatio))
            {
                context.Response.StatusCode = 500;
                return;
            }

            Interlocked.Increment(ref self._ok);
            if (!slow)
            {
                Interlocked.Increment(ref self._fastOk);
            }

            context.Response.StatusCode = 200;
        });
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver = new BenchReceiver(app, new Uri(address));
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
