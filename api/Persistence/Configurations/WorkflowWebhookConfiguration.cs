using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class WorkflowWebhookConfiguration : IEntityTypeConfiguration<WorkflowWebhook>
{
    public void Configure(EntityTypeBuilder<WorkflowWebhook> builder)
    {
        builder.ToTable("workflow_webhooks");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Name).HasMaxLength(100);
        builder.Property(w => w.WorkflowId).HasMaxLength(200);
        builder.Property(w => w.StepId).HasMaxLength(200);
        // One webhook per workflow step and account: the platform addresses steps by these ids.
        builder.HasIndex(w => new { w.AccountId, w.WorkflowId, w.StepId }).IsUnique();
        builder.HasIndex(w => new { w.AccountId, w.Id });
        builder.HasOne<Account>().WithMany().HasForeignKey(w => w.AccountId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Connection>().WithMany().HasForeignKey(w => w.ConnectionId).OnDelete(DeleteBehavior.Restrict);
    }
}
