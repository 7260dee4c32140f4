using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace WebhooksApi.Persistence.Migrations;

[DbContext(typeof(WebhooksDbContext))]
[Migration("20261123000006_Activities")]
internal sealed class Activities : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "activity_events",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                activity_status = table.Column<string>(maxLength: 30, nullable: false),
                activity_at = table.Timestamp(migrationBuilder),
                iid = table.Column<string>(maxLength: 200, nullable: true),
                contact_id = table.Column<string>(maxLength: 200, nullable: true),
                email = table.Column<string>(maxLength: 320, nullable: true),
                media_type = table.Column<string>(maxLength: 30, nullable: true),
                payload_json = table.Column<string>(nullable: false),
                feed_status = table.Column<string>(maxLength: 20, nullable: false),
                batch_id = table.Column<Guid>(nullable: true),
                created_at = table.Timestamp(migrationBuilder),
            },
            constraints: table => table.PrimaryKey("PK_activity_events", x => x.id));
        migrationBuilder.CreateIndex("IX_activity_events_account_id_iid_activity_status", "activity_events", ["account_id", "iid", "activity_status"], unique: true);
        migrationBuilder.CreateIndex("IX_activity_events_account_id_activity_at_id", "activity_events", ["account_id", "activity_at", "id"]);
        migrationBuilder.CreateIndex("IX_activity_events_account_id_feed_status_id", "activity_events", ["account_id", "feed_status", "id"]);
        migrationBuilder.CreateIndex("IX_activity_events_batch_id", "activity_events", "batch_id");

        migrationBuilder.CreateTable(
            name: "activity_webhooks",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                url = table.Column<string>(maxLength: 2048, nullable: false),
                auth_connector_id = table.Column<Guid>(nullable: true),
                event_types_json = table.Column<string>(nullable: false),
                batch_size = table.Column<int>(nullable: false),
                max_batch_age_seconds = table.Column<int>(nullable: false),
                enabled = table.Column<bool>(nullable: false),
                signing_secret_protected = table.Column<string>(nullable: false),
                created_at = table.Timestamp(migrationBuilder),
                updated_at = table.Timestamp(migrationBuilder),
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_activity_webhooks", x => x.id);
                table.ForeignKey("FK_activity_webhooks_accounts_account_id", x => x.account_id, "accounts", "id", onDelete: ReferentialAction.Cascade);
            });
        migrationBuilder.CreateIndex("IX_activity_webhooks_account_id", "activity_webhooks", "account_id", unique: true);

        migrationBuilder.CreateTable(
            name: "activity_batches",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                account_id = table.Column<Guid>(nullable: false),
                status = table.Column<string>(maxLength: 20, nullable: false),
                event_count = table.Column<int>(nullable: false),
                attempt_count = table.Column<int>(nullable: false),
                next_attempt_at = table.Timestamp(migrationBuilder),
                first_attempt_at = table.Timestamp(migrationBuilder, nullable: true),
                last_status_code = table.Column<int>(nullable: true),
                last_error = table.Column<string>(maxLength: 2000, nullable: true),
                created_at = table.Timestamp(migrationBuilder),
                delivered_at = table.Timestamp(migrationBuilder, nullable: true),
            },
            constraints: table => table.PrimaryKey("PK_activity_batches", x => x.id));
        migrationBuilder.CreateIndex("IX_activity_batches_account_id_status_id", "activity_batches", ["account_id", "status", "id"]);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable("activity_batches");
        migrationBuilder.DropTable("activity_webhooks");
        migrationBuilder.DropTable("activity_events");
    }
}
