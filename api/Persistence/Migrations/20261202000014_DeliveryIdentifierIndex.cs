using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Replaces deliveries (account_id, email, id) with (account_id, identifier, id): the deliveries
/// list gets the log's `identifier` filter (a phone, or a contact id when there is neither email
/// nor phone), and its `email` filter reads the identifier index, since a delivery's identifier is
/// its email whenever it has one, as migration 20261201000013_EmailThroughIdentifier did for attempts.
/// </summary>
/// <remarks>
/// Why swap instead of add: a contact's email or identifier is a key in no order, so each row's
/// entry lands on a leaf page of its own, and on SQLite every page a commit touches is written
/// whole to the log. Dropping four such indexes by hand took the throughput benchmark from 3,868
/// to 5,500 deliveries/s (benchmarks README, "Measured on 2026-12-02"): a fifth one would cost
/// every delivery. With the swap a delivery with an email costs what it did; one without (a
/// phone, or a contact id alone) now takes a scattered entry too, where the email index kept it
/// under NULL at one end.
/// <para>
/// The workflow step's accept sets a delivery's identifier to its email, lower-cased and capped
/// like the email column, when the contact has one. Before 9473d46 it was kept as the caller
/// cased it; the update makes it the email for any such row, so `identifier = @email AND email =
/// @email` finds every row `email = @email` did. It reads the table once and writes only rows
/// that differ.
/// </para>
/// On a large PostgreSQL table the index can be built beforehand with CREATE INDEX CONCURRENTLY
/// under the same name: `IF NOT EXISTS` then keeps it. Same text on both providers; `Down`
/// builds the email index again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261202000014_DeliveryIdentifierIndex")]
internal sealed class DeliveryIdentifierIndex : Migration
{
    /// <summary>The index dropped.</summary>
    public const string Dropped = "IX_deliveries_account_id_email_id";

    /// <summary>The index built.</summary>
    public const string Built = "IX_deliveries_account_id_identifier_id";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("UPDATE \"deliveries\" SET \"identifier\" = \"email\" WHERE \"email\" IS NOT NULL AND (\"identifier\" IS NULL OR \"identifier\" <> \"email\");");
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Built}\" ON \"deliveries\" (\"account_id\", \"identifier\", \"id\");");
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Dropped}\";");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Dropped}\" ON \"deliveries\" (\"account_id\", \"email\", \"id\");");
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Built}\";");
    }
}
