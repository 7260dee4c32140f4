using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace WebhooksApi.Persistence;

/// <summary>The key fields authentication needs, read by the key's hash.</summary>
internal sealed record ApiKeyGrant(Guid Id, Guid AccountId, string Scopes);

/// <summary>What accepting an execution needs of a workflow step and of the connection it sends through.</summary>
internal sealed record ExecutionTarget(
    Guid StepId,
    string FieldsJson,
    string ExtraJson,
    Guid ConnectionId,
    string ConnectionStatus,
    string RetryPolicyJson,
    int TimeoutSeconds);

/// <summary>A claimed delivery's connection with its account's name (a delivery's account is its connection's).</summary>
internal sealed record SendConnection(Connection Connection, string AccountName);

/// <summary>What sending a claim's rows needs, by id: their connections, auth connectors and workflow steps.</summary>
internal sealed record SendTargets(
    Dictionary<Guid, SendConnection> Connections,
    Dictionary<Guid, AuthConnector> Auths,
    Dictionary<Guid, WorkflowWebhook> Steps);

/// <summary>
/// The two reads every accepted call makes: the API key by its hash, and the caller's step with its
/// connection (and a keyed execution's third, whether its key is taken). Read from the database
/// on every call, never cached, so a revoked key or a paused connection applies to the next call
/// on every node.
/// <para>
/// On SQLite each read runs on a long-lived connection whose statements were prepared once.
/// Microsoft.Data.Sqlite keeps a statement prepared only as long as its command and connection
/// stay open, and EF creates and disposes a command for every query: in the latency benchmark's
/// profile preparing statements (`sqlite3_prepare_v2`) was 12% of the process's CPU against 6%
/// for running them, and these two reads, with the connection open they cost a request (EF
/// registers its dozen SQL functions on every open), were a fifth of the accept path.
/// On PostgreSQL they are compiled EF queries; Npgsql prepares them itself (Max Auto Prepare).
/// </para>
/// <para>
/// The dispatcher's reads after each claim (<see cref="SendTargetsAsync"/>) run here too, for the
/// same reason: through EF they were ~8% of the process's CPU at 1,000 single executions a second.
/// </para>
/// </summary>
internal sealed class HotQueries : IDisposable
{
    private const string ApiKeySql = """
        SELECT "id", "account_id", "scopes" FROM "api_keys"
        WHERE "key_hash" = @hash AND "revoked_at" IS NULL
        LIMIT 1
        """;

    private const string TargetSql = """
        SELECT w."id", w."fields_json", w."extra_json", c."id", c."status", c."retry_policy_json", c."timeout_seconds"
        FROM "workflow_webhooks" AS w
        INNER JOIN "connections" AS c ON c."id" = w."connection_id"
        WHERE w."id" = @id AND w."account_id" = @account
        LIMIT 1
        """;

    private const string KeyTakenSql = """
        SELECT 1 FROM "idempotency_records" WHERE "scope" = @scope AND "key" = @key LIMIT 1
        """;

    private static long _executed;

    private readonly string? _sqlite;
    private readonly IDbContextFactory<WebhooksDbContext> _dbFactory;
    private readonly int _keep = Math.Max(4, Environment.ProcessorCount * 2);
    private readonly ConcurrentQueue<PreparedReader> _idle = new();
    private volatile bool _disposed;
    private SendRows? _sendRows;

    private readonly Func<WebhooksDbContext, string, CancellationToken, Task<ApiKeyGrant?>> _apiKeyByHash =
        EF.CompileAsyncQuery((WebhooksDbContext db, string hash, CancellationToken _) =>
            db.ApiKeys.AsNoTracking()
                .Where(k => k.KeyHash == hash && k.RevokedAt == null)
                .Select(k => new ApiKeyGrant(k.Id, k.AccountId, k.Scopes))
                .FirstOrDefault());

    private readonly Func<WebhooksDbContext, Guid, Guid, CancellationToken, Task<ExecutionTarget?>> _ownedTarget =
        EF.CompileAsyncQuery((WebhooksDbContext db, Guid accountId, Guid id, CancellationToken _) =>
            db.WorkflowWebhooks.AsNoTracking()
                .Where(w => w.Id == id && w.AccountId == accountId)
                .Join(
                    db.Connections.AsNoTracking(),
                    w => w.ConnectionId,
                    c => c.Id,
                    (w, c) => new ExecutionTarget(w.Id, w.FieldsJson, w.ExtraJson, c.Id, c.Status, c.RetryPolicyJson, c.TimeoutSeconds))
                .FirstOrDefault());

    private readonly Func<WebhooksDbContext, string, string, CancellationToken, Task<bool>> _keyTaken =
        EF.CompileAsyncQuery((WebhooksDbContext db, string scope, string key, CancellationToken _) =>
            db.IdempotencyRecords.Any(r => r.Scope == scope && r.Key == key));

    /// <param name="sqliteConnectionString">The SQLite database's connection string; null on PostgreSQL.</param>
    /// <param name="dbFactory">For EF's model, from which the dispatcher's reads take their columns (SQLite).</param>
    public HotQueries(string? sqliteConnectionString, IDbContextFactory<WebhooksDbContext> dbFactory)
    {
        _sqlite = sqliteConnectionString;
        _dbFactory = dbFactory;
    }

    /// <summary>Reads run on the prepared SQLite connections (EF's diagnostics do not see them), for the benchmarks' SQL counts.</summary>
    public static long Executed => Interlocked.Read(ref _executed);

    /// <summary>The live key with this SHA-256 hash, or null when unknown or revoked.</summary>
    public Task<ApiKeyGrant?> ApiKeyAsync(IServiceProvider requestServices, string hash, CancellationToken cancellationToken)
    {
        if (_sqlite is null)
        {
            return _apiKeyByHash(requestServices.GetRequiredService<WebhooksDbContext>(), hash, cancellationToken);
        }

        return Task.FromResult(Read(reader =>
        {
            var command = reader.ApiKey;
            command.Parameters[0].Value = hash;
            using var row = Run(command);
            return row.Read() ? new ApiKeyGrant(SqliteIds.Read(row, 0), SqliteIds.Read(row, 1), row.GetString(2)) : null;
        }));
    }

    /// <summary>The caller's step with this route id and what its connection decides; null when not theirs or malformed (404).</summary>
    public Task<ExecutionTarget?> OwnedTargetAsync(IServiceProvider requestServices, Guid accountId, string id, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var stepId))
        {
            return Task.FromResult<ExecutionTarget?>(null);
        }

        if (_sqlite is null)
        {
            return _ownedTarget(requestServices.GetRequiredService<WebhooksDbContext>(), accountId, stepId, cancellationToken);
        }

        return Task.FromResult(Read(reader =>
        {
            var command = reader.Target;
            command.Parameters[0].Value = SqliteIds.ToBytes(stepId);
            command.Parameters[1].Value = SqliteIds.ToBytes(accountId);
            using var row = Run(command);
            return row.Read()
                ? new ExecutionTarget(SqliteIds.Read(row, 0), row.GetString(1), row.GetString(2), SqliteIds.Read(row, 3), row.GetString(4), row.GetString(5), row.GetInt32(6))
                : null;
        }));
    }

    /// <summary>
    /// Whether an Idempotency-Key has a record in its scope: the third read of a keyed execution,
    /// which takes a key nobody has used at commit (see IdempotencyClaim). Through EF it opened a
    /// connection of its own per request: ~0.2 ms of CPU a call, which at 1,000 keyed calls a second
    /// cost more than the writer's round it saved.
    /// </summary>
    public Task<bool> IdempotencyKeyTakenAsync(IServiceProvider requestServices, string scope, string key, CancellationToken cancellationToken)
    {
        if (_sqlite is null)
        {
            return _keyTaken(requestServices.GetRequiredService<WebhooksDbContext>(), scope, key, cancellationToken);
        }

        return Task.FromResult(Read(reader =>
        {
            var command = reader.KeyTaken;
            command.Parameters[0].Value = scope;
            command.Parameters[1].Value = key;
            using var row = Run(command);
            return row.Read();
        }));
    }

    /// <summary>
    /// The connections (with their accounts' names), auth connectors and workflow steps that a
    /// claim's rows are sent through, read fresh for every claim like the accept path's reads: an
    /// edited or paused connection applies to the next claim. An id with no row is left out.
    /// </summary>
    /// <param name="db">On PostgreSQL the context the claim ran on, whose EF queries read them; unused on SQLite.</param>
    public async Task<SendTargets> SendTargetsAsync(
        WebhooksDbContext? db, IReadOnlyCollection<Guid> connectionIds, IReadOnlyCollection<Guid> stepIds, CancellationToken cancellationToken)
    {
        if (_sqlite is null)
        {
            ArgumentNullException.ThrowIfNull(db);
            var connections = await db.Connections.AsNoTracking().Where(c => connectionIds.Contains(c.Id))
                .Join(db.Accounts, c => c.AccountId, a => a.Id, (c, a) => new SendConnection(c, a.Name))
                .ToDictionaryAsync(o => o.Connection.Id, cancellationToken);
            var authIds = AuthIds(connections.Values);
            // No statement for a lookup with nothing to look up (most connections have no auth
            // connector): on PostgreSQL each is a round trip, and at low load claims are small.
            var auths = authIds.Count == 0 ? [] : await db.AuthConnectors.AsNoTracking().Where(a => authIds.Contains(a.Id)).ToDictionaryAsync(a => a.Id, cancellationToken);
            var steps = stepIds.Count == 0 ? [] : await db.WorkflowWebhooks.AsNoTracking().Where(w => stepIds.Contains(w.Id)).ToDictionaryAsync(w => w.Id, cancellationToken);
            return new SendTargets(connections, auths, steps);
        }

        var rows = _sendRows ??= SendRows.Of(_dbFactory);
        return Read(reader =>
        {
            var connections = ReadById(reader, rows.ConnectionSql, connectionIds, row => new SendConnection(rows.Connections.Read(row), row.GetString(rows.Connections.Width)));
            var auths = ReadById(reader, rows.AuthSql, AuthIds(connections.Values), row => rows.Auths.Read(row));
            var steps = ReadById(reader, rows.StepSql, stepIds, row => rows.Steps.Read(row));
            return new SendTargets(connections, auths, steps);
        });
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryDequeue(out var reader))
        {
            reader.Dispose();
        }
    }

    private T Read<T>(Func<PreparedReader, T> read)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reader = _idle.TryDequeue(out var idle) ? idle : new PreparedReader(_sqlite!);
        var healthy = false;
        try
        {
            var result = read(reader);
            healthy = true;
            return result;
        }
        finally
        {
            // A reader whose read failed is not reused: its connection's state is not known.
            if (healthy && !_disposed && _idle.Count < _keep)
            {
                _idle.Enqueue(reader);
            }
            else
            {
                reader.Dispose();
            }
        }
    }

    /// <summary>One statement's execution, counted for <see cref="Executed"/>.</summary>
    private static SqliteDataReader Run(SqliteCommand command)
    {
        Interlocked.Increment(ref _executed);
        return command.ExecuteReader();
    }

    /// <summary>One prepared read per id; ids with no row are left out.</summary>
    private static Dictionary<Guid, T> ReadById<T>(PreparedReader reader, string sql, IEnumerable<Guid> ids, Func<SqliteDataReader, T> read)
    {
        var found = new Dictionary<Guid, T>();
        foreach (var id in ids)
        {
            using var row = Run(reader.ById(sql, id));
            if (row.Read())
            {
                found[id] = read(row);
            }
        }

        return found;
    }

    private static List<Guid> AuthIds(IEnumerable<SendConnection> connections) =>
        [.. connections.Select(o => o.Connection.AuthConnectorId).OfType<Guid>().Distinct()];

    /// <summary>The dispatcher's reads by id, their columns from EF's model (see <see cref="EntityRows{T}"/>).</summary>
    private sealed class SendRows
    {
        private SendRows(IModel model)
        {
            Connections = new EntityRows<Connection>(model);
            Auths = new EntityRows<AuthConnector>(model);
            Steps = new EntityRows<WorkflowWebhook>(model);
            ConnectionSql = $"""
                SELECT {Connections.Columns("c")}, a."name"
                FROM "{Connections.Table}" AS c
                INNER JOIN "accounts" AS a ON a."id" = c."account_id"
                WHERE c."id" = @id
                """;
            AuthSql = $"""SELECT {Auths.Columns("x")} FROM "{Auths.Table}" AS x WHERE x."id" = @id""";
            StepSql = $"""SELECT {Steps.Columns("x")} FROM "{Steps.Table}" AS x WHERE x."id" = @id""";
        }

        public EntityRows<Connection> Connections { get; }

        public EntityRows<AuthConnector> Auths { get; }

        public EntityRows<WorkflowWebhook> Steps { get; }

        public string ConnectionSql { get; }

        public string AuthSql { get; }

        public string StepSql { get; }

        public static SendRows Of(IDbContextFactory<WebhooksDbContext> dbFactory)
        {
            using var db = dbFactory.CreateDbContext();
            return new SendRows(db.Model);
        }
    }

    /// <summary>One open connection with the reads prepared on it; used by one caller at a time.</summary>
    private sealed class PreparedReader : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly Dictionary<string, SqliteCommand> _byId = new(StringComparer.Ordinal);

        public PreparedReader(string connectionString)
        {
            _connection = new SqliteConnection(connectionString);
            _connection.Open();
            SqliteBusyTimeout.Apply(_connection);
            ApiKey = Prepare(_connection, ApiKeySql, "@hash");
            Target = Prepare(_connection, TargetSql, "@id", "@account");
            KeyTaken = Prepare(_connection, KeyTakenSql, "@scope", "@key");
        }

        public SqliteCommand ApiKey { get; }

        public SqliteCommand Target { get; }

        public SqliteCommand KeyTaken { get; }

        /// <summary>A read by `@id`, prepared on this connection the first time it is asked for.</summary>
        public SqliteCommand ById(string sql, Guid id)
        {
            if (!_byId.TryGetValue(sql, out var command))
            {
                command = Prepare(_connection, sql, "@id");
                _byId[sql] = command;
            }

            command.Parameters[0].Value = SqliteIds.ToBytes(id);
            return command;
        }

        public void Dispose()
        {
            foreach (var command in _byId.Values)
            {
                command.Dispose();
            }

            ApiKey.Dispose();
            Target.Dispose();
            KeyTaken.Dispose();
            _connection.Dispose();
        }

        private static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] names)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in names)
            {
                // Untyped: each value binds as what it is (text, or an id's bytes as a BLOB).
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            // Prepared once here; each execution after this only binds and steps.
            command.Prepare();
            return command;
        }
    }
}
