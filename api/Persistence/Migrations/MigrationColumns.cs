using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Operations;
using Microsoft.EntityFrameworkCore.Migrations.Operations.Builders;

namespace WebhooksApi.Persistence.Migrations;

/// <summary>
/// Column shapes that differ by provider. Other columns leave the type to the provider's own
/// mapping of the CLR type (uuid/TEXT, boolean/INTEGER, character varying(n)/TEXT ...).
/// </summary>
internal static class MigrationColumns
{
    public static bool IsSqlite(this MigrationBuilder migrationBuilder) =>
        migrationBuilder.ActiveProvider == "Microsoft.EntityFrameworkCore.Sqlite";

    /// <summary>timestamptz on PostgreSQL; microseconds since the epoch on SQLite (see WebhooksDbContext).</summary>
    public static OperationBuilder<AddColumnOperation> Timestamp(this ColumnsBuilder table, MigrationBuilder migrationBuilder, bool nullable = false) =>
        migrationBuilder.IsSqlite()
            ? table.Column<long>(type: "INTEGER", nullable: nullable)
            : table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: nullable);
}
