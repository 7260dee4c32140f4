using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// The log's `test=true` filter: test sends are a handful among millions of delivery attempts and
/// no index held is_test, so their first page read the account's rows newest first, fetching each
/// from the table to look at is_test, until it had a page: every attempt row when there are none.
/// A partial index on the test sends alone gives them newest first and costs a write only when a
/// test send is logged. `test=false` needs nothing: nearly every row matches, so the (account_id,
/// id) walk stops after about a page.
/// </summary>
/// <remarks>
/// `CREATE INDEX IF NOT EXISTS`, the same text on SQLite and PostgreSQL, for the reason given in
/// 20261123000005_LogIndexes (an operator may build it beforehand with CONCURRENTLY). The query
/// must say `is_test` itself (not `is_test = @value`) for either planner to prove it may use it.
/// </remarks>
[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000007_TestSendIndex")]
internal sealed class TestSendIndex : Migration
{
    internal const string Name = "IX_attempts_account_id_id_test_sends";
    internal const string Filter = "\"is_test\"";

    protected override void Up(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"CREATE INDEX IF NOT EXISTS \"{Name}\" ON \"attempts\" (\"account_id\", \"id\") WHERE {Filter};");

    protected override void Down(MigrationBuilder migrationBuilder) =>
        migrationBuilder.Sql($"DROP INDEX IF EXISTS \"{Name}\";");
}
