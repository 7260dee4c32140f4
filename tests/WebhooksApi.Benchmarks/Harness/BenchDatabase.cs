using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Npgsql;
using WebhooksApi.Persistence;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// A fresh database per run: a new SQLite file in a temporary folder, or a new database on the
/// PostgreSQL server named by ConnectionStrings__Webhooks (dropped afterwards).
/// </summary>
internal sealed class BenchDatabase : IAsyncDisposable
{
    private readonly string? _folder;
    private readonly string? _serverConnectionString;
    private readonly string? _databaseName;

    private BenchDatabase(string provider, string connectionString, string? folder, string? serverConnectionString, string? databaseName)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _folder = folder;
        _serverConnectionString = serverConnectionString;
        _databaseName = databaseName;
    }

    public string Provider { get; }

    public string ConnectionString { get; }

    public bool IsPostgres => Provider == "postgres";

    public static async Task<BenchDatabase> CreateAsync(string provider, CancellationToken cancellationToken)
    {
        if (provider == "sqlite")
        {
            var folder = Path.Combine(Path.GetTempPath(), "webhooks-bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
            Directory.CreateDirectory(folder);
            return new BenchDatabase(provider, $"Data Source={Path.Combine(folder, "webhooks.db")}", folder, null, null);
        }

        var server = Environment.GetEnvironmentVariable("ConnectionStrings__Webhooks");
        if (string.IsNullOrWhiteSpace(server))
        {
            throw new InvalidOperationException("--provider postgres needs ConnectionStrings__Webhooks (an Npgsql connection string to a server where it may create databases).");
        }

        var name = "webhooks_bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync(cancellationToken);
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var builder = new NpgsqlConnectionStringBuilder(server) { Database = name, MaxPoolSize = 200 };
        return new BenchDatabase(provider, builder.ToString(), null, server, name);
    }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = IsPostgres ? new NpgsqlConnection(ConnectionString) : new SqliteConnection(ConnectionString + ";Default Timeout=60");
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    public async Task<long> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.CommandTimeout = 600;
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The id the query returns, read as this provider stores it (see <see cref="GuidValue"/>).</summary>
    public async Task<Guid> ScalarIdAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken) switch
        {
            Guid id => id,
            byte[] bytes => SqliteIds.FromBytes(bytes),
            var other => throw new InvalidOperationException($"Not an id: {other}."),
        };
    }

    /// <summary>A Guid as this provider stores it (uuid; on SQLite 16 bytes, see the service's SqliteIds).</summary>
    public object GuidValue(Guid id) => IsPostgres ? id : SqliteIds.ToBytes(id);

    /// <summary>A timestamp as this provider stores it (SQLite: microseconds since the epoch, see WebhooksDbContext).</summary>
    public object TimeValue(DateTimeOffset at) => IsPostgres ? at : (at.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    public async ValueTask DisposeAsync()
    {
        if (_folder is not null)
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
                // A file still open by a pool being torn down: the temp folder is cleaned later.
            }
        }

        if (_serverConnectionString is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_serverConnectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_databaseName}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
