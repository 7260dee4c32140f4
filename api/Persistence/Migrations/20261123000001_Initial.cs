using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000001_Initial")]
internal sealed class Initial : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "accounts",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                name = table.Column<string>(maxLength: 200, nullable: false),
                created_at = table.Timestamp(migrationBuilder),
            },
            constraints: table => table.PrimaryKey("PK_accounts", x => x.id));

        migrationBuilder.CreateTable(
            name: "api_keys",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                name = table.Column<string>(maxLength: 200, nullable: false),
                key_hash = table.Column<string>(maxLength: 64, nullable: false),
                prefix = table.Column<string>(maxLength: 16, nullable: false),
                scopes = table.Column<string>(maxLength: 200, nullable: false),
                created_at = table.Timestamp(migrationBuilder),
                revoked_at = table.Timestamp(migrationBuilder, nullable: true),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_api_keys", x => x.id);
                table.ForeignKey("FK_api_keys_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
            });

        migrationBuilder.CreateIndex("IX_api_keys_key_hash", "api_keys", "key_hash", unique: true);
        migrationBuilder.CreateIndex("IX_api_keys_account_id_id", "api_keys", ["account_id", "id"]);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable("api_keys");
        migrationBuilder.DropTable("accounts");
    }
}
