using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Drops attempts (account_id, email, id): the log's email filter reads (account_id, identifier,
/// id) instead, since an attempt's identifier is its email whenever it has one.
/// </summary>
/// <remarks>
/// Why: a contact's email is a key in no order, so each attempt's entry lands on a leaf page of
/// its own, and on SQLite every page a commit touches is written whole to the log (then once
/// more by the checkpoint). The index held the same values as the identifier index beside it,
/// row for row. Measured on SQLite with 50,000 contacts in scattered order: see the benchmarks
/// README, "Measured on 2026-12-01, 19:15-20:45".
/// <para>
/// Every writer sets an attempt's identifier to its email, lower-cased and capped like the email
/// column, when the contact has one (the workflow step's accept, the test send, see
/// AttemptRecorder). The update makes that hold for any row written otherwise before, so the
/// filter `identifier = @email AND email = @email` finds every row that `email = @email` did.
/// It reads the table once and writes only rows that differ.
/// </para>
/// Same text on both providers; `Down` builds the index again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261201000013_EmailThroughIdentifier")]
internal sealed class EmailThroughIdentifier : Migration
{
    /// <summary>The index dropped.</summary>
    public const string Dropped = "IX_attempts_account_id_email_id";

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("UPDATE \"attempts\" SET \"identifier\" = \"email\" WHERE \"email\" IS NOT NULL AND (\"identifier\" IS NULL OR \"identifier\" <> \"email\");");
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Dropped}\";");
    }

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Dropped}\" ON \"attempts\" (\"account_id\", \"email\", \"id\");");
}
