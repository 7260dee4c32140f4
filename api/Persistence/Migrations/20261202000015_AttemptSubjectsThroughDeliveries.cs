using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Drops the attempts' (account_id, contact_id, id) and (account_id, identifier, id): the log's
/// `contactId`, `email` and `identifier` filters find a delivery's attempts through the
/// deliveries' own indexes on the same keys, and test sends (which have no delivery) through the
/// index of test sends (Features/Logs/List/Endpoint.cs).
/// </summary>
/// <remarks>
/// Why: a contact's id or identifier is a key in no order, so each row's entry lands on a leaf
/// page of its own, and on SQLite every page a commit touches is written whole to the log (and
/// again at checkpoint). An attempt copied both keys of its delivery, so every request sent paid
/// for two such pages on top of the two its delivery paid when it was accepted, and a retry paid
/// them again. With the two attempt indexes dropped by hand the throughput benchmark went from
/// 6,483-7,239 to 8,712-9,031 deliveries/s over 100,000 executions (benchmarks README, "Measured
/// on 2026-12-02, 05:10-05:30"); it made no difference over 10,000, where those indexes still fit
/// in a few hundred pages.
/// <para>
/// What it costs: a subject filter on the log reads every attempt of the contact's deliveries and
/// sorts them, where the dropped index read one page in order: proportional to the contact's
/// deliveries, not to the table (the logs benchmark's contacts have 100 each). The attempts keep
/// their own contact columns, which the log shows.
/// </para>
/// Same text on both providers; `Down` builds both indexes again.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261202000015_AttemptSubjectsThroughDeliveries")]
internal sealed class AttemptSubjectsThroughDeliveries : Migration
{
    /// <summary>The indexes dropped, by name.</summary>
    public static readonly IReadOnlyList<string> Dropped = ["IX_attempts_account_id_contact_id_id", "IX_attempts_account_id_identifier_id"];

    protected override void Up(MigrationBuilder migrationBuilder)
    {
        foreach (var name in Dropped)
        {
            migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{name}\";");
        }
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Dropped[0]}\" ON \"attempts\" (\"account_id\", \"contact_id\", \"id\");");
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Dropped[1]}\" ON \"attempts\" (\"account_id\", \"identifier\", \"id\");");
    }
}
