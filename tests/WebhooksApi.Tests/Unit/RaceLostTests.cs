using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using WebhooksApi.Http;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// Which failures mean "another request won the race to this row": a 409 (nothing stored, read
/// again). Found by concurrent requests against a running service (a PATCH of a workflow
/// webhook while it was deleted, two DELETEs of one auth connector, a DELETE of an auth connector
/// while a connection was created with it), where they were 500s; anything else is not one.
/// </summary>
public sealed class RaceLostTests
{
    public static TheoryData<string, Exception, bool> Cases() => new()
    {
        { "row deleted between load and update", new DbUpdateConcurrencyException("expected to affect 1 row(s), but actually affected 0 row(s)"), true },
        { "postgres foreign key, wrapped by EF", new DbUpdateException("saving", new PostgresException("violates foreign key constraint", "ERROR", "ERROR", PostgresErrorCodes.ForeignKeyViolation)), true },
        { "postgres unique, wrapped by EF", new DbUpdateException("saving", new PostgresException("duplicate key", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation)), true },
        { "sqlite foreign key", new DbUpdateException("saving", new SqliteException("FOREIGN KEY constraint failed", 19, 787)), true },
        { "sqlite unique", new DbUpdateException("saving", new SqliteException("UNIQUE constraint failed", 19, 2067)), true },
        { "sqlite primary key", new SqliteException("UNIQUE constraint failed", 19, 1555), true },
        { "sqlite foreign key, no extended code", new DbUpdateException("saving", new SqliteException("SQLite Error 19: 'FOREIGN KEY constraint failed'.", 19)), true },
        { "sqlite not null", new SqliteException("NOT NULL constraint failed", 19, 1299), false },
        { "postgres bad text", new PostgresException("invalid byte sequence", "ERROR", "ERROR", "22021"), false },
        { "a bug", new InvalidOperationException("Sequence contains no elements"), false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Only_a_lost_race_is_a_conflict(string what, Exception exception, bool conflict) =>
        Assert.True(ExceptionToProblemHandler.RaceLost(exception) is not null == conflict, what);
}
