using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class AuthConnectorConfiguration : IEntityTypeConfiguration<AuthConnector>
{
    public void Configure(EntityTypeBuilder<AuthConnector> builder)
    {
        builder.ToTable("auth_connectors");
        builder.HasKey(c => c.Id);
        builder.Property(c => c.Name).HasMaxLength(200);
        builder.Property(c => c.Type).HasMaxLength(20);
        builder.HasIndex(c => new { c.AccountId, c.Id });
        builder.HasOne<Account>().WithMany().HasForeignKey(c => c.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}
