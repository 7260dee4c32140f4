using System.Diagnostics;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// The real service (the api project's own Program: the same startup, Kestrel, dispatcher and
/// Quartz as a deployment) in this process on a free 127.0.0.1 port, configured through the
/// keys the README documents. WebApplicationFactory would swap Kestrel for an in-memory
/// server; here requests go over real sockets.
/// </summary>
internal sealed class ServiceHost : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly Task _exited;

    private ServiceHost(IHost host, Task exited, Uri address, string apiKey)
    {
        _host = host;
        _exited = exited;
        Address = address;
        ApiKey = apiKey;
        Client = NewClient(address, apiKey);
    }

    public Uri Address { get; }

    public string ApiKey { get; }

    /// <summary>An HttpClient for the API with the default account's admin key.</summary>
    public HttpClient Client { get; }

    public IServiceProvider Services => _host.Services;

    public static HttpClient NewClient(Uri address, string apiKey)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromMinutes(2),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    public static async Task<ServiceHost> StartAsync(BenchDatabase database, IReadOnlyDictionary<string, string>? settings, CancellationToken cancellationToken)
    {
        var port = FreePort.Next();
        var apiKey = "whk_bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var config = new Dictionary<string, string>
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["Database:Provider"] = database.Provider,
            ["ConnectionStrings:Webhooks"] = database.ConnectionString,
            ["Bootstrap:ApiKey"] = apiKey,
            ["Delivery:AllowHttp"] = "true",
            ["Delivery:PrivateNetworkAllowList"] = "127.0.0.1,localhost",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            config[key] = value;
        }

        var args = new List<string> { "--contentRoot", AppContext.BaseDirectory, "--environment", "Production" };
        args.AddRange(config.Select(kv => $"--{kv.Key}={kv.Value}"));

        // The host is built inside Program's top-level code; Microsoft.Extensions.Hosting announces
        // it on a DiagnosticListener (WebApplicationFactory catches it the same way), which gives
        // us the IHost to stop between runs.
        var built = new TaskCompletionSource<IHost>(TaskCreationOptions.RunContinuationsAsynchronously);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (DiagnosticListener.AllListeners.Subscribe(new HostCapture(built)))
        {
            var thread = new Thread(() =>
            {
                try
                {
                    typeof(Program).Assembly.EntryPoint!.Invoke(null, [args.ToArray()]);
                    exited.TrySetResult();
                }
                catch (TargetInvocationException e)
                {
                    exited.TrySetException(e.InnerException ?? e);
                }
                catch (Exception e)
                {
                    exited.TrySetException(e);
                }
            })
            {
                IsBackground = true,
                Name = "webhooks-api",
            };
            thread.Start();
            var first = await Task.WhenAny(built.Task, exited.Task).WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
            if (first == exited.Task)
            {
                await exited.Task;
                throw new InvalidOperationException("The service stopped before its host was built.");
            }
        }

        var service = new ServiceHost(await built.Task, exited.Task, new Uri($"http://127.0.0.1:{port}"), apiKey);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (exited.Task.IsCompleted)
            {
                await exited.Task;
                throw new InvalidOperationException("The service stopped during startup.");
            }

            try
            {
                using var ready = await service.Client.GetAsync(new Uri("/readyz", UriKind.Relative), cancellationToken);
                if (ready.IsSuccessStatusCode)
                {
                    return service;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet (migrations run before Kestrel starts).
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                throw new TimeoutException("The service did not answer /readyz within 2 minutes.");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(20));
        }
        catch (ObjectDisposedException)
        {
            // Program's RunAsync already disposed it.
        }

        await _exited.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private sealed class HostCapture(TaskCompletionSource<IHost> built) : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
    {
        public void OnNext(DiagnosticListener value)
        {
            if (value.Name == "Microsoft.Extensions.Hosting")
            {
                value.Subscribe(this);
            }
        }

        public void OnNext(KeyValuePair<string, object?> value)
        {
            if (value.Key == "HostBuilt" && value.Value is IHost host)
            {
                built.TrySetResult(host);
            }
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }
    }
}
