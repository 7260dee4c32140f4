using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class ActivityEventConfiguration : IEntityTypeConfiguration<ActivityEvent>
{
    public void Configure(EntityTypeBuilder<ActivityEvent> builder)
    {
        builder.ToTable("activity_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.ActivityStatus).HasMaxLength(30);
        builder.Property(e => e.Iid).HasMaxLength(200);
        builder.Property(e => e.ContactId).HasMaxLength(200);
        builder.Property(e => e.Email).HasMaxLength(320);
        builder.Property(e => e.MediaType).HasMaxLength(30);
        builder.Property(e => e.FeedStatus).HasMaxLength(20);
        // A repeated event (same iid and status) is accepted once. The status is part of the key:
        // platforms give one message's DELIVERED and UNDELIVERED events the same iid.
        builder.HasIndex(e => new { e.AccountId, e.Iid, e.ActivityStatus }).IsUnique();
        // The pull API: an account's events in a time range.
        builder.HasIndex(e => new { e.AccountId, e.ActivityAt, e.Id });
        // The feed: an account's waiting events in order, and a batch's events.
        builder.HasIndex(e => new { e.AccountId, e.FeedStatus, e.Id });
        builder.HasIndex(e => e.BatchId);
    }
}

internal sealed class ActivityWebhookConfiguration : IEntityTypeConfiguration<ActivityWebhook>
{
    public void Configure(EntityTypeBuilder<ActivityWebhook> builder)
    {
        builder.ToTable("activity_webhooks");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Url).HasMaxLength(2048);
        builder.HasIndex(w => w.AccountId).IsUnique();
        builder.HasOne<Account>().WithMany().HasForeignKey(w => w.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ActivityBatchConfiguration : IEntityTypeConfiguration<ActivityBatch>
{
    public void Configure(EntityTypeBuilder<ActivityBatch> builder)
    {
        builder.ToTable("activity_batches");
        builder.HasKey(b => b.Id);
        builder.Property(b => b.Status).HasMaxLength(20);
        builder.Property(b => b.LastError).HasMaxLength(2000);
        builder.HasIndex(b => new { b.AccountId, b.Status, b.Id });
    }
}
