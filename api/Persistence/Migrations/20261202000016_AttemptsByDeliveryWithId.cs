using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Replaces the attempts' (delivery_id) with (delivery_id, id): the log's contact filters sort a
/// contact's attempts by id (migration 20261202000015_AttemptSubjectsThroughDeliveries), and
/// with the id in the index they find and sort them without reading each row.
/// </summary>
/// <remarks>
/// Measured on the logs benchmark at 5,000,000 rows, a contact of 5,000 attempts: a page took 76
/// ms (117 with the email filter) reading every row to sort it. Writing costs what it did: a
/// delivery's attempts are written after it, so their entries go at the index's end like before,
/// 16 bytes longer. Same text on both providers; `Down` builds the single-column index again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261202000016_AttemptsByDeliveryWithId")]
internal sealed class AttemptsByDeliveryWithId : Migration
{
    public const string Dropped = "IX_attempts_delivery_id";

    public const string Built = "IX_attempts_delivery_id_id";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Built}\" ON \"attempts\" (\"delivery_id\", \"id\");");
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Dropped}\";");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Dropped}\" ON \"attempts\" (\"delivery_id\");");
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Built}\";");
    }
}
