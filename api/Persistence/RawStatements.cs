using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;

namespace WebhooksApi.Persistence;

/// <summary>
/// Runs one parameterized statement for many rows inside the context's current transaction,
/// below EF Core, for the dispatcher's hot writes. Through EF each row cost an expression tree
/// to build, funcletize and look up in the query cache (ExecuteUpdate) or a change-tracked
/// entity (SaveChanges): a CPU profile of the throughput benchmark had 31% of the process in
/// the result writer, two thirds of it in EF's query pipeline. Here SQLite reuses one prepared
/// statement; PostgreSQL runs a <see cref="RowsStatement"/> once for all rows (arrays read with
/// unnest) and any other statement once per row in one batch, one round trip.
/// </summary>
/// <remarks>
/// Values are given as the entities hold them and stored as EF stores them: on SQLite a Guid as
/// a 16-byte BLOB (<see cref="SqliteIds"/>), a DateTimeOffset as microseconds since the epoch (see WebhooksDbContext), a
/// bool as 0/1; on PostgreSQL uuid, timestamptz in UTC and boolean.
/// </remarks>
internal static class RawStatements
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DbConnection, Dictionary<string, (DbCommand Command, DbParameter[] Parameters)>> Kept = [];

    /// <summary>The row statements of connections kept open for them (the SQLite writer's, see <see cref="KeepPrepared"/>).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<DbConnection, SqliteKeptStatements> RowStatements = [];

    private static long _executed;

    /// <summary>Statements run here (EF's own diagnostics do not see them), for the benchmarks' SQL counts.</summary>
    public static long Executed => Interlocked.Read(ref _executed);

    /// <param name="sql">The statement, with parameters named <c>@name</c> after <paramref name="names"/>.</param>
    /// <param name="rows">One array of values per execution, in the order of <paramref name="names"/>.</param>
    public static async Task<int> ExecuteAsync(WebhooksDbContext db, string sql, string[] names, IReadOnlyCollection<object?[]> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return 0;
        }

        var transaction = CurrentTransaction(db);
        var connection = transaction.Connection!;
        var sqlite = !db.IsPostgres;
        var changed = 0;
        if (connection.CanCreateBatch)
        {
            await using var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var row in rows)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = sql;
                for (var i = 0; i < names.Length; i++)
                {
                    var parameter = command.CreateParameter();
                    parameter.ParameterName = names[i];
                    parameter.Value = Value(sqlite, row[i]);
                    command.Parameters.Add(parameter);
                }

                batch.BatchCommands.Add(command);
            }

            changed = await batch.ExecuteNonQueryAsync(cancellationToken);
        }
        else if (RowStatements.TryGetValue(connection, out var rowStatements))
        {
            // The SQLite writer's connection: kept prepared, bound by position through SQLitePCLRaw.
            changed = rowStatements.Execute(sql, names, rows);
        }
        else
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Transaction = transaction;
            var parameters = Parameters(command, names);
            foreach (var row in rows)
            {
                Bind(parameters, sqlite, row);
                changed += await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        Interlocked.Add(ref _executed, rows.Count);
        return changed;
    }

    /// <summary>
    /// Runs <paramref name="statement"/> for many rows in the context's current transaction: on
    /// SQLite once per row, kept prepared (<see cref="ExecuteAsync(WebhooksDbContext, string, string[], IReadOnlyCollection{object?[]}, CancellationToken)"/>);
    /// on PostgreSQL once for all of them, each column bound as one array that the statement
    /// reads back with unnest. Before, PostgreSQL ran the row statement once per row in one batch:
    /// one round trip, but every row a statement of its own to bind, start (opening each of the
    /// table's indexes), run and end, ~3 statements per delivery in the throughput benchmark.
    /// </summary>
    public static async Task<int> ExecuteAsync(WebhooksDbContext db, RowsStatement statement, IReadOnlyCollection<object?[]> rows, CancellationToken cancellationToken)
    {
        if (!db.IsPostgres)
        {
            return await ExecuteAsync(db, statement.Sql, statement.Names, rows, cancellationToken);
        }

        if (rows.Count == 0)
        {
            return 0;
        }

        var transaction = CurrentTransaction(db);
        await using var command = new NpgsqlCommand(statement.PostgresSql, (NpgsqlConnection)transaction.Connection!, (NpgsqlTransaction)transaction);
        for (var i = 0; i < statement.Names.Length; i++)
        {
            var (type, values) = Column(rows, i, statement.Columns[i]);
            command.Parameters.Add(new NpgsqlParameter(statement.Names[i], NpgsqlDbType.Array | type) { Value = values });
        }

        var changed = await command.ExecuteNonQueryAsync(cancellationToken);
        Interlocked.Increment(ref _executed);
        return changed;
    }

    /// <summary>Column <paramref name="index"/> of every row, as the array PostgreSQL gets for it.</summary>
    private static (NpgsqlDbType Type, Array Values) Column(IReadOnlyCollection<object?[]> rows, int index, SetColumn column)
    {
        return column switch
        {
            SetColumn.Uuid => (NpgsqlDbType.Uuid, Values(v => (Guid?)v)),
            SetColumn.Text => (NpgsqlDbType.Text, Values(v => (string?)v)),
            SetColumn.Integer => (NpgsqlDbType.Integer, Values(v => (int?)v)),
            SetColumn.Boolean => (NpgsqlDbType.Boolean, Values(v => (bool?)v)),
            SetColumn.Timestamp => (NpgsqlDbType.TimestampTz, Values(v => ((DateTimeOffset?)v)?.ToUniversalTime())),
            _ => throw new ArgumentOutOfRangeException(nameof(column)),
        };

        T[] Values<T>(Func<object?, T> read)
        {
            var values = new T[rows.Count];
            var i = 0;
            foreach (var row in rows)
            {
                values[i++] = read(row[index]);
            }

            return values;
        }
    }

    /// <summary>
    /// Runs a query (a statement with RETURNING) in the context's current transaction with a
    /// statement kept prepared, when the context's connection is one kept open for that
    /// (<see cref="KeepPrepared"/>); null otherwise, for the caller to go through EF.
    /// <paramref name="bind"/> is called once with the reader and returns what reads each row.
    /// </summary>
    public static async Task<List<T>?> QueryKeptAsync<T>(
        WebhooksDbContext db, string sql, string[] names, object?[] values, Func<DbDataReader, Func<DbDataReader, T>> bind, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        if (db.IsPostgres || !Kept.TryGetValue(connection, out var statements))
        {
            return null;
        }

        var (command, parameters) = KeptStatement(statements, connection, sql, names);
        command.Transaction = CurrentTransaction(db);
        Bind(parameters, sqlite: true, values);

        var rows = new List<T>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            var read = bind(reader);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(read(reader));
            }
        }

        Interlocked.Increment(ref _executed);
        return rows;
    }

    /// <summary>
    /// Statements run on this connection from now on stay prepared for as long as it lives: the
    /// SQLite writer's connection, open for the life of its loop (AcceptCommitter). Parsing the
    /// insert and update statements again for every group was a tenth of the writer's CPU in the
    /// latency benchmark, where groups hold a few rows each. Only for a connection kept open, and
    /// used by one thread at a time.
    /// </summary>
    public static void KeepPrepared(DbConnection connection)
    {
        Kept.TryAdd(connection, new Dictionary<string, (DbCommand, DbParameter[])>(StringComparer.Ordinal));
        if (connection is Microsoft.Data.Sqlite.SqliteConnection sqlite)
        {
            RowStatements.TryAdd(connection, new SqliteKeptStatements(sqlite));
        }
    }

    private static DbTransaction CurrentTransaction(WebhooksDbContext db) =>
        db.Database.CurrentTransaction?.GetDbTransaction()
        ?? throw new InvalidOperationException("Raw statements run inside the caller's transaction.");

    /// <summary>The connection's statement for <paramref name="sql"/>, created the first time.</summary>
    private static (DbCommand Command, DbParameter[] Parameters) KeptStatement(
        Dictionary<string, (DbCommand Command, DbParameter[] Parameters)> statements, DbConnection connection, string sql, string[] names)
    {
        if (!statements.TryGetValue(sql, out var statement))
        {
            statement = Prepare(connection, sql, names);
            statements[sql] = statement;
        }

        return statement;
    }

    private static void Bind(DbParameter[] parameters, bool sqlite, object?[] values)
    {
        for (var i = 0; i < parameters.Length; i++)
        {
            parameters[i].Value = Value(sqlite, values[i]);
        }
    }

    private static (DbCommand Command, DbParameter[] Parameters) Prepare(DbConnection connection, string sql, string[] names)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return (command, Parameters(command, names));
    }

    private static DbParameter[] Parameters(DbCommand command, string[] names)
    {
        var parameters = new DbParameter[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            parameters[i] = command.CreateParameter();
            parameters[i].ParameterName = names[i];
            command.Parameters.Add(parameters[i]);
        }

        return parameters;
    }

    private static object Value(bool sqlite, object? value) => value switch
    {
        null => DBNull.Value,
        Guid g => sqlite ? SqliteIds.ToBytes(g) : g,
        DateTimeOffset t => sqlite ? WebhooksDbContext.ToUnixMicroseconds(t) : t.ToUniversalTime(),
        bool b => sqlite ? (b ? 1 : 0) : b,
        _ => value,
    };
}

/// <summary>The PostgreSQL type of a column of a <see cref="RowsStatement"/> (bound as an array of it).</summary>
internal enum SetColumn
{
    Uuid,
    Text,
    Integer,
    Boolean,
    Timestamp,
}

/// <summary>
/// A statement run for many rows (<see cref="RawStatements.ExecuteAsync(WebhooksDbContext, RowsStatement, IReadOnlyCollection{object?[]}, CancellationToken)"/>):
/// <paramref name="Sql"/> for one row, with parameters named after <paramref name="Names"/>; and
/// <paramref name="PostgresSql"/> for all rows at once, where each of those parameters is an array
/// of <paramref name="Columns"/>' type, one element per row, read with unnest.
/// </summary>
internal sealed record RowsStatement(string Sql, string[] Names, string PostgresSql, SetColumn[] Columns)
{
    /// <summary>An INSERT into <paramref name="table"/> of one value per column, in this order, each bound to a parameter named after its column.</summary>
    public static RowsStatement Insert(string table, params (string Column, SetColumn Type)[] columns)
    {
        var list = string.Join(", ", columns.Select(c => c.Column));
        string[] names = [.. columns.Select(c => "@" + c.Column)];
        var values = string.Join(", ", names);
        return new(
            $"INSERT INTO {table} ({list}) VALUES ({values})",
            names,
            $"INSERT INTO {table} ({list}) SELECT * FROM unnest({values})",
            [.. columns.Select(c => c.Type)]);
    }
}

