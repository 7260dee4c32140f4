using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster for the test run, started from the machine's initdb/pg_ctl
/// (as the postgres user when running as root: initdb refuses root), or the server named by
/// ConnectionStrings__Webhooks when that is set. Each fixture gets a database of its own, dropped
/// when it is done (see <see cref="TestDatabases"/>).
/// </summary>
public static class PostgresServer
{
    /// <summary>Set by .ci/run: a missing PostgreSQL then fails the run instead of skipping.</summary>
    public const string RequireVariable = "WEBHOOKS_REQUIRE_POSTGRES";

    private static readonly Lazy<Task<(string? AdminConnectionString, string? Unavailable)>> Server = new(StartAsync);

    public static async Task<(string? ConnectionString, string? Unavailable)> CreateDatabaseAsync()
    {
        var (admin, unavailable) = await Server.Value;
        if (admin is null)
        {
            if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
            {
                throw new InvalidOperationException($"PostgreSQL is required ({RequireVariable}=1) but unavailable: {unavailable}");
            }

            return (null, unavailable);
        }

        var name = "wh_test_" + Guid.NewGuid().ToString("N")[..16];
        await AdminAsync(admin, $"CREATE DATABASE \"{name}\"");
        return (new NpgsqlConnectionStringBuilder(admin) { Database = name, MaxPoolSize = 50 }.ConnectionString, null);
    }

    /// <summary>Drops a database <see cref="CreateDatabaseAsync"/> made, with whatever is still connected to it.</summary>
    public static async Task DropDatabaseAsync(string connectionString)
    {
        var (admin, _) = await Server.Value;
        if (admin is null)
        {
            return;
        }

        using (var pooled = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        // FORCE (PostgreSQL 13+) ends the sessions an app a test left running still holds.
        await AdminAsync(admin, $"DROP DATABASE IF EXISTS \"{new NpgsqlConnectionStringBuilder(connectionString).Database}\" WITH (FORCE)");
    }

    public static async Task<bool> DatabaseExistsAsync(string name)
    {
        var (admin, unavailable) = await Server.Value;
        return (long)(await AdminAsync(admin ?? throw new InvalidOperationException(unavailable), "SELECT count(*) FROM pg_database WHERE datname = @name", name))! == 1;
    }

    /// <summary>One statement on the server's admin database; <paramref name="name"/> is its @name.</summary>
    private static async Task<object?> AdminAsync(string admin, string sql, string? name = null)
    {
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        if (name is not null)
        {
            command.Parameters.AddWithValue("name", name);
        }

        return await command.ExecuteScalarAsync();
    }

    private static async Task<(string?, string?)> StartAsync()
    {
        try
        {
            return await StartClusterAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException)
        {
            return (null, $"PostgreSQL tests skipped: a throwaway cluster could not be started ({e.Message.Trim()}).");
        }
    }

    private static async Task<(string?, string?)> StartClusterAsync()
    {
        var configured = TestEnvironment.PostgresConnectionString;
        if (!string.IsNullOrWhiteSpace(configured) && configured.Contains("Host=", StringComparison.OrdinalIgnoreCase))
        {
            return (configured, null);
        }

        var initdb = FindOnPath("initdb");
        var pgCtl = FindOnPath("pg_ctl");
        if (initdb is null || pgCtl is null)
        {
            return (null, "PostgreSQL tests skipped: initdb/pg_ctl are not on the PATH and ConnectionStrings__Webhooks is not set.");
        }

        var asRoot = Environment.UserName == "root";
        var root = Path.Combine(Path.GetTempPath(), $"webhooks-pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        var data = Path.Combine(root, "data");
        var socket = Path.Combine(root, "socket");
        Directory.CreateDirectory(socket);
        if (asRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", root], asPostgres: false);
        }

        var port = FreePort();
        await RunAsync(initdb, ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], asRoot);
        var options = $"-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400";
        await RunAsync(pgCtl, ["-D", data, "-l", Path.Combine(root, "log.txt"), "-o", options, "-w", "-t", "60", "start"], asRoot);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                RunAsync(pgCtl, ["-D", data, "-m", "immediate", "stop"], asRoot).GetAwaiter().GetResult();
                Directory.Delete(root, recursive: true);
            }
            catch (Exception)
            {
                // The run is over; a leftover temp folder is not worth failing it for.
            }
        };

        return ($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Include Error Detail=true", null);
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

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
