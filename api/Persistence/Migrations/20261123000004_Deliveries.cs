using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000004_Deliveries")]
internal sealed class Deliveries : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.AddColumn<long>("failing_since", "connections", type: migrationBuilder.IsSqlite() ? "INTEGER" : "timestamp with time zone", nullable: true);

        migrationBuilder.CreateTable(
            name: "workflow_webhooks",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                name = table.Column<string>(maxLength: 100, nullable: false),
                workflow_id = table.Column<string>(maxLength: 200, nullable: false),
                step_id = table.Column<string>(maxLength: 200, nullable: false),
                connection_id = table.Column<Guid>(nullable: false),
                fields_json = table.Column<string>(nullable: false),
                extra_json = table.Column<string>(nullable: false),
                capture_response = table.Column<bool>(nullable: false),
                created_at = table.Timestamp(migrationBuilder),
                updated_at = table.Timestamp(migrationBuilder),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_workflow_webhooks", x => x.id);
                table.ForeignKey("FK_workflow_webhooks_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
                table.ForeignKey("FK_workflow_webhooks_connections_connection_id", x => x.connection_id, "connections", "id", onDelete: ReferentialAction.Restrict);
            });
        migrationBuilder.CreateIndex("IX_workflow_webhooks_account_id_workflow_id_step_id", "workflow_webhooks", ["account_id", "workflow_id", "step_id"], unique: true);
        migrationBuilder.CreateIndex("IX_workflow_webhooks_account_id_id", "workflow_webhooks", ["account_id", "id"]);
        migrationBuilder.CreateIndex("IX_workflow_webhooks_connection_id", "workflow_webhooks", "connection_id");

        migrationBuilder.CreateTable(
            name: "deliveries",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                connection_id = table.Column<Guid>(nullable: false),
                workflow_webhook_id = table.Column<Guid>(nullable: true),
                status = table.Column<string>(maxLength: 20, nullable: false),
                ordered = table.Column<bool>(nullable: false),
                payload_json = table.Column<string>(nullable: false),
                contact_id = table.Column<string>(maxLength: 200, nullable: true),
                email = table.Column<string>(maxLength: 320, nullable: true),
                phone = table.Column<string>(maxLength: 50, nullable: true),
                identifier = table.Column<string>(maxLength: 320, nullable: true),
                attempt_count = table.Column<int>(nullable: false),
                next_attempt_at = table.Timestamp(migrationBuilder),
                first_attempt_at = table.Timestamp(migrationBuilder, nullable: true),
                last_attempt_at = table.Timestamp(migrationBuilder, nullable: true),
                claim_token = table.Column<Guid>(nullable: true),
                locked_until = table.Timestamp(migrationBuilder, nullable: true),
                last_status_code = table.Column<int>(nullable: true),
                last_outcome = table.Column<string>(maxLength: 40, nullable: true),
                last_error = table.Column<string>(maxLength: 2000, nullable: true),
                response_body = table.Column<string>(nullable: true),
                failure_reason = table.Column<string>(maxLength: 40, nullable: true),
                created_at = table.Timestamp(migrationBuilder),
                updated_at = table.Timestamp(migrationBuilder),
                completed_at = table.Timestamp(migrationBuilder, nullable: true),
            },
            constraints: table => table.PrimaryKey("PK_deliveries", x => x.id));
        migrationBuilder.CreateIndex("IX_deliveries_status_next_attempt_at", "deliveries", ["status", "next_attempt_at"]);
        migrationBuilder.CreateIndex("IX_deliveries_connection_id_status_id", "deliveries", ["connection_id", "status", "id"]);
        migrationBuilder.CreateIndex("IX_deliveries_account_id_id", "deliveries", ["account_id", "id"]);
        migrationBuilder.CreateIndex("IX_deliveries_workflow_webhook_id_id", "deliveries", ["workflow_webhook_id", "id"]);
        migrationBuilder.CreateIndex("IX_deliveries_claim_token", "deliveries", "claim_token");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable("deliveries");
        migrationBuilder.DropTable("workflow_webhooks");
        migrationBuilder.DropColumn("failing_since", "connections");
    }
}
