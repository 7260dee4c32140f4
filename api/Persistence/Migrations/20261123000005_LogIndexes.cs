using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Indexes for the log and delivery filters. Every list is one account's rows newest first, so
/// each index is (account_id, filter column, id): an equality filter reads its rows in list order
/// and stops after a page, and the keyset cursor (`id &lt; cursor`) continues the same range.
/// A date range needs no index of its own: `from` becomes a lower id bound (ids are UUIDv7 from
/// the same clock as created_at, see IdBounds) on whichever index serves the other filters.
/// A status-code class (`5xx`) is a range on status_code: the planner either walks that range
/// and sorts it, or walks (account_id, id) newest first and filters, whichever is cheaper.
/// </summary>
/// <remarks>
/// Written as `CREATE INDEX IF NOT EXISTS` (the same text on SQLite and PostgreSQL) so that an
/// operator with a large attempts table can build them beforehand with
/// `CREATE INDEX CONCURRENTLY` under these names, and the migration (which runs in a
/// transaction, where CONCURRENTLY is not allowed) then finds them instead of locking writes
/// to the table while it builds them.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000005_LogIndexes")]
internal sealed class LogIndexes : Migration
{
    private static readonly (string Table, string[] Columns)[] Indexes =
    [
        ("attempts", ["account_id", "status_code", "id"]),
        ("attempts", ["account_id", "outcome", "id"]),
        ("attempts", ["account_id", "contact_id", "id"]),
        ("attempts", ["account_id", "email", "id"]),
        ("attempts", ["account_id", "identifier", "id"]),
        ("attempts", ["account_id", "workflow_webhook_id", "id"]),
        // deliveries is also the queue: each index costs every status change a little, so only
        // the filters people use to find "what happened to this contact / connection" and the
        // bulk retry's status=failed get one. The step filter uses (workflow_webhook_id, id).
        ("deliveries", ["account_id", "status", "id"]),
        ("deliveries", ["account_id", "connection_id", "id"]),
        ("deliveries", ["account_id", "contact_id", "id"]),
        ("deliveries", ["account_id", "email", "id"]),
    ];

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        foreach (var (table, columns) in Indexes)
        {
            var list = string.Join(", ", columns.Select(c => $"\"{c}\""));
            migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Name(table, columns)}\" ON \"{table}\" ({list});");
        }
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        foreach (var (table, columns) in Indexes)
        {
            migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Name(table, columns)}\";");
        }
    }

    /// <summary>EF's own naming (IX_table_col1_col2), so the model's indexes and these agree.</summary>
    private static string Name(string table, string[] columns) => $"IX_{table}_{string.Join('_', columns)}";
}
