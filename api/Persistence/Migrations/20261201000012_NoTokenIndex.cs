using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Drops deliveries (claim_token) WHERE claim_token IS NOT NULL: lease renewal, its only reader,
/// reads the claimed rows from the lease index (status = 'delivering') instead.
/// </summary>
/// <remarks>
/// Why: every claim added an entry to it and every result took one out, two of the B-tree
/// writes of each delivery, on the SQLite writer's one thread and in every claimed row version
/// on PostgreSQL (issue #8). It served a statement that runs once a third of a lease (40 s by
/// default) and reads rows that are all in the lease index anyway: the claimed rows are the
/// deliveries in flight, at most the nodes' request slots (1,024 each by default), and a scan
/// of them by token is a few milliseconds at most.
/// Same `IF EXISTS` text on both providers; `Down` builds it again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261201000012_NoTokenIndex")]
internal sealed class NoTokenIndex : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{InFlightIndexes.Claimed}\";");

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{InFlightIndexes.Claimed}\" ON \"deliveries\" (\"claim_token\") WHERE {InFlightIndexes.ClaimedFilter};");
}
