using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class DeliveryConfiguration : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> builder)
    {
        builder.ToTable("deliveries");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.Status).HasMaxLength(20);
        builder.Property(d => d.ContactId).HasMaxLength(200);
        builder.Property(d => d.Email).HasMaxLength(320);
        builder.Property(d => d.Phone).HasMaxLength(50);
        builder.Property(d => d.Identifier).HasMaxLength(320);
        builder.Property(d => d.LastOutcome).HasMaxLength(40);
        builder.Property(d => d.LastError).HasMaxLength(2000);
        builder.Property(d => d.FailureReason).HasMaxLength(40);
        // The queue's indexes hold only the rows in flight (migration 20261201000010_InFlightIndexes):
        // the claim, connection by connection, each one's due rows in time order; lease recovery
        // and renewal (which reads the claimed rows from it by token since 20261201000012_NoTokenIndex);
        // the expiry of held deliveries.
        builder.HasIndex(d => new { d.ConnectionId, d.NextAttemptAt }, Migrations.InFlightIndexes.Due).HasFilter(Migrations.InFlightIndexes.DueFilter);
        builder.HasIndex(d => d.LockedUntil, Migrations.InFlightIndexes.Leased).HasFilter(Migrations.InFlightIndexes.LeasedFilter);
        builder.HasIndex(d => d.CreatedAt, Migrations.InFlightIndexes.Held).HasFilter(Migrations.InFlightIndexes.HeldFilter);
        // Per-connection work: holding, resuming, ordered head-of-line, stats.
        builder.HasIndex(d => new { d.ConnectionId, d.Status, d.Id });
        builder.HasIndex(d => new { d.WorkflowWebhookId, d.Id });
        // The delivery list's filters and bulk retry (status=failed), newest first per account
        // (migration 20261123000005_LogIndexes). The list without a filter merges one page per
        // status from the first (migration 20261201000011_LeanerIndexes).
        builder.HasIndex(d => new { d.AccountId, d.Status, d.Id });
        builder.HasIndex(d => new { d.AccountId, d.ConnectionId, d.Id });
        builder.HasIndex(d => new { d.AccountId, d.ContactId, d.Id });
        // Also the email filter's: a delivery's identifier is its email when it has one
        // (migration 20261202000014_DeliveryIdentifierIndex).
        builder.HasIndex(d => new { d.AccountId, d.Identifier, d.Id });
    }
}
