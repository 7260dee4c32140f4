using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Drops two indexes whose reads other indexes serve: deliveries (account_id, id) and attempts
/// (created_at).
/// </summary>
/// <remarks>
/// Why: every index is written for every row, and on PostgreSQL for every version of a row: a
/// status change is a new tuple with an entry in each of the table's indexes, and a delivery
/// changes status twice. Index insertion was ~60% of the postgres processes' samples in the
/// throughput benchmark (issue #8).
/// <list type="bullet">
/// <item>deliveries (account_id, id) served only the deliveries list without a filter; that list
/// now merges one page per status from (account_id, status, id), as the log's status classes do.</item>
/// <item>attempts (created_at) served the log retention and the health check's window; both now
/// bound the time-ordered id (UUIDv7, made from the same instant as created_at, see IdBounds)
/// and read the primary key or (account_id, connection_id, id).</item>
/// </list>
/// With a third index also dropped, alternated `throughput --provider postgres` runs gave 11% less
/// machine CPU per run and 12% more deliveries/s (see the benchmarks README for these two alone).
/// Same `IF EXISTS` text on both providers; `Down` builds them again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261201000011_LeanerIndexes")]
internal sealed class LeanerIndexes : Migration
{
    /// <summary>The indexes dropped: table, name, columns.</summary>
    private static readonly (string Table, string Name, string Columns)[] Dropped =
    [
        ("deliveries", "IX_deliveries_account_id_id", "\"account_id\", \"id\""),
        ("attempts", "IX_attempts_created_at", "\"created_at\""),
    ];

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        foreach (var (_, name, _) in Dropped)
        {
            migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{name}\";");
        }
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        foreach (var (table, name, columns) in Dropped)
        {
            migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" ({columns});");
        }
    }
}
