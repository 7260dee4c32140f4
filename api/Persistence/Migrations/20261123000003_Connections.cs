using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000003_Connections")]
internal sealed class Connections : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "data_protection_keys",
            columns: table => new
            {
                id = migrationBuilder.IsSqlite()
                    ? table.Column<int>(nullable: false).Annotation("Sqlite:Autoincrement", true)
                    : table.Column<int>(nullable: false).Annotation("Npgsql:ValueGenerationStrategy", Npgsql.EntityFrameworkCore.PostgreSQL.Metadata.NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                friendly_name = table.Column<string>(nullable: true),
                xml = table.Column<string>(nullable: true),
            },
            constraints: table => table.PrimaryKey("PK_data_protection_keys", x => x.id));

        migrationBuilder.CreateTable(
            name: "auth_connectors",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                name = table.Column<string>(maxLength: 200, nullable: false),
                type = table.Column<string>(maxLength: 20, nullable: false),
                public_json = table.Column<string>(nullable: false),
                secrets_protected = table.Column<string>(nullable: false),
                created_at = table.Timestamp(migrationBuilder),
                updated_at = table.Timestamp(migrationBuilder),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_auth_connectors", x => x.id);
                table.ForeignKey("FK_auth_connectors_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
            });
        migrationBuilder.CreateIndex("IX_auth_connectors_account_id_id", "auth_connectors", ["account_id", "id"]);

        migrationBuilder.CreateTable(
            name: "connections",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                title = table.Column<string>(maxLength: 200, nullable: false),
                url = table.Column<string>(maxLength: 2048, nullable: false),
                method = table.Column<string>(maxLength: 10, nullable: false),
                headers_json = table.Column<string>(nullable: false),
                auth_connector_id = table.Column<Guid>(nullable: true),
                body_format = table.Column<string>(maxLength: 10, nullable: false),
                body_template = table.Column<string>(nullable: true),
                params_in_headers = table.Column<bool>(nullable: false),
                timeout_seconds = table.Column<int>(nullable: false),
                max_concurrency = table.Column<int>(nullable: false),
                rate_limit_per_second = table.Column<int>(nullable: true),
                retry_policy_json = table.Column<string>(nullable: false),
                expect_json_response = table.Column<bool>(nullable: false),
                status = table.Column<string>(maxLength: 20, nullable: false),
                status_reason = table.Column<string>(maxLength: 500, nullable: true),
                status_changed_at = table.Timestamp(migrationBuilder),
                shape_version = table.Column<int>(nullable: false),
                tested_shape_version = table.Column<int>(nullable: true),
                last_tested_at = table.Timestamp(migrationBuilder, nullable: true),
                last_test_outcome = table.Column<string>(maxLength: 40, nullable: true),
                signing_secret_protected = table.Column<string>(nullable: false),
                previous_signing_secret_protected = table.Column<string>(nullable: true),
                previous_secret_expires_at = table.Timestamp(migrationBuilder, nullable: true),
                created_at = table.Timestamp(migrationBuilder),
                updated_at = table.Timestamp(migrationBuilder),
                deleted_at = table.Timestamp(migrationBuilder, nullable: true),
                status_before_delete = table.Column<string>(maxLength: 20, nullable: true),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_connections", x => x.id);
                table.ForeignKey("FK_connections_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
                table.ForeignKey("FK_connections_auth_connectors_auth_connector_id", x => x.auth_connector_id, "auth_connectors", "id", onDelete: ReferentialAction.Restrict);
            });
        migrationBuilder.CreateIndex("IX_connections_account_id_status_id", "connections", ["account_id", "status", "id"]);
        migrationBuilder.CreateIndex("IX_connections_account_id_id", "connections", ["account_id", "id"]);
        migrationBuilder.CreateIndex("IX_connections_auth_connector_id", "connections", "auth_connector_id");

        migrationBuilder.CreateTable(
            name: "webhook_templates",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                name = table.Column<string>(maxLength: 200, nullable: false),
                settings_json = table.Column<string>(nullable: false),
                created_at = table.Timestamp(migrationBuilder),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_webhook_templates", x => x.id);
                table.ForeignKey("FK_webhook_templates_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
            });
        migrationBuilder.CreateIndex("IX_webhook_templates_account_id_id", "webhook_templates", ["account_id", "id"]);

        migrationBuilder.CreateTable(
            name: "attempts",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                connection_id = table.Column<Guid>(nullable: false),
                delivery_id = table.Column<Guid>(nullable: true),
                workflow_webhook_id = table.Column<Guid>(nullable: true),
                is_test = table.Column<bool>(nullable: false),
                attempt_number = table.Column<int>(nullable: false),
                created_at = table.Timestamp(migrationBuilder),
                contact_id = table.Column<string>(maxLength: 200, nullable: true),
                email = table.Column<string>(maxLength: 320, nullable: true),
                phone = table.Column<string>(maxLength: 50, nullable: true),
                identifier = table.Column<string>(maxLength: 320, nullable: true),
                request_method = table.Column<string>(maxLength: 10, nullable: false),
                request_url = table.Column<string>(nullable: false),
                request_headers_json = table.Column<string>(nullable: false),
                request_body = table.Column<string>(nullable: true),
                status_code = table.Column<int>(nullable: true),
                response_headers_json = table.Column<string>(nullable: true),
                response_body = table.Column<string>(nullable: true),
                duration_ms = table.Column<int>(nullable: false),
                outcome = table.Column<string>(maxLength: 40, nullable: false),
                error = table.Column<string>(maxLength: 2000, nullable: true),
            },
            constraints: table => table.PrimaryKey("PK_attempts", x => x.id));
        migrationBuilder.CreateIndex("IX_attempts_account_id_id", "attempts", ["account_id", "id"]);
        migrationBuilder.CreateIndex("IX_attempts_account_id_connection_id_id", "attempts", ["account_id", "connection_id", "id"]);
        migrationBuilder.CreateIndex("IX_attempts_delivery_id", "attempts", "delivery_id");
        migrationBuilder.CreateIndex("IX_attempts_created_at", "attempts", "created_at");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable("attempts");
        migrationBuilder.DropTable("webhook_templates");
        migrationBuilder.DropTable("connections");
        migrationBuilder.DropTable("auth_connectors");
        migrationBuilder.DropTable("data_protection_keys");
    }
}
