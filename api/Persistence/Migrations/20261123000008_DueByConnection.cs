using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// The claim reads each connection's due rows in time order (DeliveryStore): with only
/// (connection_id, status, id) it had to walk every pending row of the connection, retries
/// scheduled hours ahead included, to find the due ones. Same `IF NOT EXISTS` text on both
/// providers, so an operator can build it beforehand with CREATE INDEX CONCURRENTLY under this
/// name (see 20261123000005_LogIndexes).
/// </summary>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000008_DueByConnection")]
internal sealed class DueByConnection : Migration
{
    private const string Index = "IX_deliveries_connection_id_status_next_attempt_at";

    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Index}\" ON \"deliveries\" (\"connection_id\", \"status\", \"next_attempt_at\");");

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Index}\";");
}
