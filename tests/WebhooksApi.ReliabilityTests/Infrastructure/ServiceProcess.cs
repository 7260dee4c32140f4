using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace WebhooksApi.ReliabilityTests.Infrastructure;

/// <summary>
/// The service as a real process: `dotnet WebhooksApi.Api.dll` from the api project's build
/// output, on a fixed port and one database, so it can be SIGKILLed and started again on the
/// same data. Its console goes to a log file that a failing test prints the tail of, deleted
/// when the test disposes the service.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Dictionary<string, string> _settings;
    private readonly string _log;
    private Process? _process;

    public ServiceProcess(string provider, string connectionString, IReadOnlyDictionary<string, string>? settings = null)
    {
        Port = Ports.Free();
        ApiKey = "whk_crash_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _log = Path.Combine(Path.GetTempPath(), $"webhooks-crash-api-{Guid.NewGuid().ToString("N")[..8]}.log");
        _settings = new Dictionary<string, string>
        {
            ["Urls"] = BaseUrl,
            ["Database__Provider"] = provider,
            ["ConnectionStrings__Webhooks"] = connectionString,
            ["Bootstrap__ApiKey"] = ApiKey,
            ["Delivery__AllowHttp"] = "true",
            ["Delivery__PrivateNetworkAllowList"] = "127.0.0.1,localhost",
            // A killed node's claims come back after the lease: short here, so the test does not wait two minutes.
            ["Delivery__Lease"] = "00:00:05",
            // A key whose request a kill cut off is taken over by the client's retry after this (default 1 min).
            ["Idempotency__TakeOverAfter"] = "00:00:10",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        Client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = new Uri(BaseUrl),
            Timeout = TimeSpan.FromSeconds(60),
        };
        Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public string ApiKey { get; }

    /// <summary>Authenticated as the bootstrap account's admin key.</summary>
    public HttpClient Client { get; }

    public int Starts { get; private set; }

    public int Kills { get; private set; }

    public bool Running => _process is { HasExited: false };

    /// <summary>Starts the process and waits until /readyz answers 200.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(ApiDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ApiDll);
        foreach (var (key, value) in _settings)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        Starts++;
        _process = process;
        var log = new StreamWriter(_log, append: true) { AutoFlush = true };
        await log.WriteLineAsync($"--- start {Starts} (pid {process.Id}) at {DateTime.UtcNow:O}");
        var gate = new object();
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.Exited += (_, _) => { lock (gate) { log.Dispose(); } };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            await Eventually.WaitAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"The service exited with {process.ExitCode} while starting:\n{LogTail()}");
                    }

                    try
                    {
                        using var response = await probe.GetAsync(new Uri("/readyz", UriKind.Relative));
                        return response.IsSuccessStatusCode;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                    catch (TaskCanceledException)
                    {
                        return false;
                    }
                },
                ready => ready,
                $"the service on {BaseUrl} to be ready",
                TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            // The log is deleted with this object (see DisposeAsync): its tail goes with the failure.
            throw new TimeoutException($"{e.Message}\n{LogTail()}", e);
        }

        void Write(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (gate)
            {
                try
                {
                    log.WriteLine(line);
                }
                catch (ObjectDisposedException)
                {
                    // The process is gone; its last lines race its exit.
                }
            }
        }
    }

    /// <summary>kill -9: no shutdown hooks, no grace, whatever is in flight is cut.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The service is not running.");
        process.Kill(entireProcessTree: false);
        await process.WaitForExitAsync();
        Kills++;
        process.Dispose();
        _process = null;
    }

    public string LogTail(int lines = 60)
    {
        try
        {
            using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"(no log: {e.Message})";
        }
    }

    /// <summary>api/bin/&lt;Configuration&gt;/net10.0/WebhooksApi.Api.dll, built by the ProjectReference.</summary>
    public static string ApiDll
    {
        get
        {
            // tests/WebhooksApi.ReliabilityTests/bin/<Configuration>/net10.0/
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = output.Parent!.Name;
            var repo = output.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
            var dll = Path.Combine(repo, "api", "bin", configuration, output.Name, "WebhooksApi.Api.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"The api build output is missing: {dll}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        Client.Dispose();
        // Failures carry the log's tail in their message; kept, every run left one file per service.
        File.Delete(_log);
    }
}
