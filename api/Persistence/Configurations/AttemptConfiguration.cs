using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class AttemptConfiguration : IEntityTypeConfiguration<Attempt>
{
    public void Configure(EntityTypeBuilder<Attempt> builder)
    {
        builder.ToTable("attempts");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.ContactId).HasMaxLength(200);
        builder.Property(a => a.Email).HasMaxLength(320);
        builder.Property(a => a.Phone).HasMaxLength(50);
        builder.Property(a => a.Identifier).HasMaxLength(320);
        builder.Property(a => a.RequestMethod).HasMaxLength(10);
        builder.Property(a => a.Outcome).HasMaxLength(40);
        builder.Property(a => a.Error).HasMaxLength(2000);
        // The log list is per account, newest first; the connection filter is the most common one.
        builder.HasIndex(a => new { a.AccountId, a.Id });
        builder.HasIndex(a => new { a.AccountId, a.ConnectionId, a.Id });
        // A delivery's attempts, and (with the id) a contact's attempts sorted without reading each row
        // (migration 20261202000016_AttemptsByDeliveryWithId).
        builder.HasIndex(a => new { a.DeliveryId, a.Id });
        // Retention and the health check's window bound the time-ordered id, not created_at
        // (migration 20261201000011_LeanerIndexes): no index of its own to write for every row.
        // One index per log filter, each ending in id: an equality filter then reads its rows
        // already newest first and stops after one page (migration 20261123000005_LogIndexes).
        builder.HasIndex(a => new { a.AccountId, a.StatusCode, a.Id });
        builder.HasIndex(a => new { a.AccountId, a.Outcome, a.Id });
        builder.HasIndex(a => new { a.AccountId, a.WorkflowWebhookId, a.Id });
        // The contact filters (contactId, email, identifier) have no index here: they find a
        // delivery's attempts through the deliveries' indexes by the same keys and DeliveryId
        // (migration 20261202000015_AttemptSubjectsThroughDeliveries).
        // Test sends only, for `test=true` and the contact filters on test sends (migration 20261123000007_TestSendIndex).
        builder.HasIndex(a => new { a.AccountId, a.Id }, Migrations.TestSendIndex.Name).HasFilter(Migrations.TestSendIndex.Filter);
    }
}
