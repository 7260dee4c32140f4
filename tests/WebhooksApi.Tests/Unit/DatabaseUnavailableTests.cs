using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;
using WebhooksApi.Http;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// Which failures mean "the database is down, nothing was stored, retry": those are a 503 with
/// Retry-After (found by the database outage test in tests/WebhooksApi.ReliabilityTests, where
/// they were 500s); anything else stays a 500.
/// </summary>
public sealed class DatabaseUnavailableTests
{
    public static TheoryData<string, Exception, bool> Cases() => new()
    {
        { "refused connection, wrapped by EF", new InvalidOperationException("transient", new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused))), true },
        { "server shutting down", new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"), true },
        { "server starting up", new PostgresException("the database system is starting up", "FATAL", "FATAL", "57P03"), true },
        { "too many connections", new PostgresException("sorry, too many clients already", "FATAL", "FATAL", "53300"), true },
        { "sqlite busy", new SqliteException("database is locked", 5), true },
        { "unique violation", new PostgresException("duplicate key", "ERROR", "ERROR", "23505"), false },
        { "sqlite constraint", new SqliteException("constraint failed", 19), false },
        { "a bug", new InvalidOperationException("Sequence contains no elements"), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Only_an_unreachable_database_is_unavailable(string what, Exception exception, bool unavailable) =>
        Assert.True(ExceptionToProblemHandler.IsDatabaseUnavailable(exception) == unavailable, what);
}
