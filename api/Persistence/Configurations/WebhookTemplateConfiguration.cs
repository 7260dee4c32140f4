using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class WebhookTemplateConfiguration : IEntityTypeConfiguration<WebhookTemplate>
{
    public void Configure(EntityTypeBuilder<WebhookTemplate> builder)
    {
        builder.ToTable("webhook_templates");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Name).HasMaxLength(200);
        builder.HasIndex(t => new { t.AccountId, t.Id });
        builder.HasOne<Account>().WithMany().HasForeignKey(t => t.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}
