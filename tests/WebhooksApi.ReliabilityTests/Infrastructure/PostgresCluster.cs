using System.Diagnostics;
using Npgsql;

namespace WebhooksApi.ReliabilityTests.Infrastructure;

/// <summary>
/// PostgreSQL for the crash tests. <see cref="SharedAsync"/> is the server .ci/run starts
/// (ConnectionStrings__Webhooks) or, without it, a throwaway cluster of this run;
/// <see cref="StartOwnAsync"/> is a cluster the test owns and may stop and start (a database
/// outage) without disturbing anyone else. Clusters are made from the machine's initdb/pg_ctl,
/// as the postgres user when running as root (initdb refuses root). Missing binaries skip the
/// tests with the reason, unless WEBHOOKS_REQUIRE_POSTGRES=1 (CI), which fails them.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    public const string RequireVariable = "WEBHOOKS_REQUIRE_POSTGRES";

    private static readonly string? Configured = Environment.GetEnvironmentVariable("ConnectionStrings__Webhooks");
    private static readonly Lazy<Task<PostgresCluster>> Shared = new(() => Configured is { } c && c.Contains("Host=", StringComparison.OrdinalIgnoreCase)
        ? Task.FromResult(new PostgresCluster(c, null, null, asRoot: false))
        : StartSharedAsync());

    private readonly string? _pgCtl;
    private readonly string? _root;
    private readonly bool _asRoot;
    private bool _shared;

    private PostgresCluster(string admin, string? pgCtl, string? root, bool asRoot)
    {
        AdminConnectionString = admin;
        _pgCtl = pgCtl;
        _root = root;
        _asRoot = asRoot;
    }

    public string AdminConnectionString { get; }

    /// <summary>Why PostgreSQL tests cannot run here, or null when they can.</summary>
    public static string? Unavailable()
    {
        if (Configured is { } c && c.Contains("Host=", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var missing = FindOnPath("initdb") is null || FindOnPath("pg_ctl") is null;
        if (!missing)
        {
            return null;
        }

        const string reason = "PostgreSQL crash tests skipped: initdb/pg_ctl are not on the PATH and ConnectionStrings__Webhooks is not set.";
        if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
        {
            throw new InvalidOperationException($"PostgreSQL is required ({RequireVariable}=1): {reason}");
        }

        return reason;
    }

    public static Task<PostgresCluster> SharedAsync() => Shared.Value;

    private static async Task<PostgresCluster> StartSharedAsync()
    {
        var cluster = await StartOwnAsync();
        cluster._shared = true;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.RemoveAsync().AsTask().GetAwaiter().GetResult();
        return cluster;
    }

    /// <summary>A fresh cluster on a free port, owned by the caller (dispose stops and removes it).</summary>
    public static async Task<PostgresCluster> StartOwnAsync()
    {
        var initdb = FindOnPath("initdb") ?? throw new InvalidOperationException("initdb is not on the PATH.");
        var pgCtl = FindOnPath("pg_ctl") ?? throw new InvalidOperationException("pg_ctl is not on the PATH.");
        var asRoot = Environment.UserName == "root";
        var root = Path.Combine(Path.GetTempPath(), $"webhooks-crash-pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Path.Combine(root, "socket"));
        if (asRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", root], asPostgres: false);
        }

        var port = Ports.Free();
        await RunAsync(initdb, ["-D", Path.Combine(root, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], asRoot);
        await File.WriteAllTextAsync(Path.Combine(root, "port"), port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var cluster = new PostgresCluster($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres", pgCtl, root, asRoot);
        await cluster.StartAsync();
        return cluster;
    }

    /// <summary>Starts the (stopped) cluster and waits until it accepts connections.</summary>
    public Task StartAsync()
    {
        var port = File.ReadAllText(Path.Combine(Root, "port"));
        // synchronous_commit stays on: this cluster is crashed on purpose (`immediate` stop), and
        // with it off PostgreSQL may lose the last commits, so a 202 the service rightly gave for
        // a committed batch would look lost. fsync=off only risks an OS crash, which no test makes.
        var options = $"-p {port} -k {Path.Combine(Root, "socket")} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200";
        return RunAsync(PgCtl, ["-D", Path.Combine(Root, "data"), "-l", Path.Combine(Root, "log.txt"), "-o", options, "-w", "-t", "60", "start"], _asRoot);
    }

    /// <summary>Stops the cluster at once (`immediate`: connections are cut as in a crash).</summary>
    public Task StopAsync() => RunAsync(PgCtl, ["-D", Path.Combine(Root, "data"), "-m", "immediate", "-w", "stop"], _asRoot);

    public async Task<string> CreateDatabaseAsync()
    {
        var name = "wh_crash_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, MaxPoolSize = 50 }.ConnectionString;
    }

    /// <summary>
    /// Runs <paramref name="run"/> on a database of its own, dropped afterwards whatever the run did:
    /// on a configured server it would outlive the run (a cluster of this run's own goes with it).
    /// </summary>
    public async Task WithDatabaseAsync(Func<string, Task> run)
    {
        var database = await CreateDatabaseAsync();
        try
        {
            await run(database);
        }
        finally
        {
            await DropDatabaseAsync(database);
        }
    }

    private async Task DropDatabaseAsync(string connectionString)
    {
        using (var pooled = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        var name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    private string Root => _root ?? throw new InvalidOperationException("Only a cluster this run started can be stopped and started.");

    private string PgCtl => _pgCtl ?? throw new InvalidOperationException("Only a cluster this run started can be stopped and started.");

    /// <summary>The shared cluster lives until the test process exits; an owned one goes now.</summary>
    public ValueTask DisposeAsync() => _shared ? ValueTask.CompletedTask : RemoveAsync();

    private async ValueTask RemoveAsync()
    {
        if (_root is null)
        {
            return;
        }

        try
        {
            await StopAsync();
            Directory.Delete(_root, recursive: true);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            // A cluster already stopped, or a leftover temp folder: not worth failing the run for.
        }
    }

    private static async Task RunAsync(string file, string[] args, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var a in (string[])["-u", "postgres", "--", file])
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await stdout}{await stderr}");
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
