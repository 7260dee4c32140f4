using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000002_Idempotency")]
internal sealed class Idempotency : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "idempotency_records",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                scope = table.Column<string>(maxLength: 64, nullable: false),
                key = table.Column<string>(maxLength: 255, nullable: false),
                request_hash = table.Column<string>(maxLength: 64, nullable: false),
                status_code = table.Column<int>(nullable: false),
                content_type = table.Column<string>(maxLength: 200, nullable: true),
                location = table.Column<string>(maxLength: 2048, nullable: true),
                body = table.Column<byte[]>(nullable: true),
                created_at = table.Timestamp(migrationBuilder),
            },
            constraints: table => table.PrimaryKey("PK_idempotency_records", x => x.id));

        migrationBuilder.CreateIndex("IX_idempotency_records_scope_key", "idempotency_records", ["scope", "key"], unique: true);
        migrationBuilder.CreateIndex("IX_idempotency_records_created_at", "idempotency_records", "created_at");
    }

    protected override void Down(MigrationBuilder migrationBuilder) => migrationBuilder.DropTable("idempotency_records");
}
