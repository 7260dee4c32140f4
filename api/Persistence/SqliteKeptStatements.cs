using System.Data;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace WebhooksApi.Persistence;

/// <summary>
/// The SQLite writer's row statements (accepted deliveries, results, attempts), kept prepared on
/// its connection and run through SQLitePCLRaw, each value bound by its position.
/// <para>
/// Why: the writer thread is the one place every SQLite write goes through, and a third of its
/// CPU samples in the throughput benchmark were managed code around the statements, not SQLite:
/// for every row Microsoft.Data.Sqlite looked each of ~20 parameters up by name (a linear search
/// of the statement's names after converting each name to UTF-8), inferred each value's type, and
/// built and disposed a data reader. Here the positions are looked up once per statement, and a
/// row is its values bound, one step and a reset. Values are bound as Microsoft.Data.Sqlite binds
/// them (text as UTF-8, an empty BLOB as a zero-length BLOB, not NULL), so what is stored is the
/// same; errors are the same <see cref="SqliteException"/>s.
/// </para>
/// The statements are finalized when the connection closes (the writer opens a new one after a
/// group that failed), so a closed connection is never held open by them.
/// </summary>
internal sealed class SqliteKeptStatements
{
    private readonly SqliteConnection _connection;
    private readonly Dictionary<string, (sqlite3_stmt Statement, int[] Slots)> _statements = new(StringComparer.Ordinal);

    public SqliteKeptStatements(SqliteConnection connection)
    {
        _connection = connection;
        connection.StateChange += (_, change) =>
        {
            if (change.CurrentState == ConnectionState.Closed)
            {
                Release();
            }
        };
    }

    /// <summary>Runs <paramref name="sql"/> once per row, values as the entities hold them; returns the rows changed.</summary>
    public int Execute(string sql, string[] names, IReadOnlyCollection<object?[]> rows)
    {
        var db = _connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var (statement, slots) = Prepared(db, sql, names);
        var changed = 0;
        foreach (var row in rows)
        {
            for (var i = 0; i < slots.Length; i++)
            {
                Check(Bind(statement, slots[i], row[i]), db, statement);
            }

            var rc = raw.sqlite3_step(statement);
            if (rc != raw.SQLITE_DONE)
            {
                Check(rc == raw.SQLITE_ROW ? raw.SQLITE_MISUSE : rc, db, statement);
            }

            changed += raw.sqlite3_changes(db);
            raw.sqlite3_reset(statement);
        }

        return changed;
    }

    private (sqlite3_stmt Statement, int[] Slots) Prepared(sqlite3 db, string sql, string[] names)
    {
        if (_statements.TryGetValue(sql, out var prepared))
        {
            return prepared;
        }

        var rc = raw.sqlite3_prepare_v2(db, sql, out sqlite3_stmt statement, out string tail);
        SqliteException.ThrowExceptionForRC(rc, db);
        if (!string.IsNullOrWhiteSpace(tail))
        {
            statement.Dispose();
            throw new InvalidOperationException("A kept statement is one statement.");
        }

        var slots = new int[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            slots[i] = raw.sqlite3_bind_parameter_index(statement, names[i]);
            if (slots[i] == 0)
            {
                statement.Dispose();
                throw new InvalidOperationException($"The statement has no parameter {names[i]}.");
            }
        }

        prepared = (statement, slots);
        _statements[sql] = prepared;
        return prepared;
    }

    /// <summary>Binds a value as EF stores it on SQLite (see RawStatements.Value): a Guid as its 16 bytes, a time as microseconds, a bool as 0/1.</summary>
    private static int Bind(sqlite3_stmt statement, int slot, object? value)
    {
        switch (value)
        {
            case Guid id:
                Span<byte> bytes = stackalloc byte[16];
                SqliteIds.Write(id, bytes);
                return raw.sqlite3_bind_blob(statement, slot, bytes);
            case DateTimeOffset at:
                return raw.sqlite3_bind_int64(statement, slot, WebhooksDbContext.ToUnixMicroseconds(at));
            case bool flag:
                return raw.sqlite3_bind_int64(statement, slot, flag ? 1 : 0);
            default:
                return BindStored(statement, slot, value);
        }
    }

    private static int BindStored(sqlite3_stmt statement, int slot, object? value) => value switch
    {
        null or DBNull => raw.sqlite3_bind_null(statement, slot),
        string text => raw.sqlite3_bind_text(statement, slot, text),
        long number => raw.sqlite3_bind_int64(statement, slot, number),
        int number => raw.sqlite3_bind_int64(statement, slot, number),
        byte[] { Length: 0 } => raw.sqlite3_bind_zeroblob(statement, slot, 0),
        byte[] bytes => raw.sqlite3_bind_blob(statement, slot, bytes),
        double real => raw.sqlite3_bind_double(statement, slot, real),
        _ => throw new NotSupportedException($"A kept statement does not bind {value.GetType().Name} values."),
    };

    /// <summary>Throws SQLite's error for <paramref name="rc"/>, the statement reset for its next use.</summary>
    private static void Check(int rc, sqlite3 db, sqlite3_stmt statement)
    {
        if (rc == raw.SQLITE_OK)
        {
            return;
        }

        try
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    private void Release()
    {
        foreach (var (statement, _) in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }
}
