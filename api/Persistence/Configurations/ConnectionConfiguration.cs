using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace WebhooksApi.Persistence.Configurations;

internal sealed class ConnectionConfiguration : IEntityTypeConfiguration<Connection>
{
    public void Configure(EntityTypeBuilder<Connection> builder)
    {
        builder.ToTable("connections");
        builder.HasKey(c => c.Id);
        builder.Property(c => c.Title).HasMaxLength(200);
        builder.Property(c => c.Url).HasMaxLength(2048);
        builder.Property(c => c.Method).HasMaxLength(10);
        builder.Property(c => c.BodyFormat).HasMaxLength(10);
        builder.Property(c => c.Status).HasMaxLength(20);
        builder.Property(c => c.StatusReason).HasMaxLength(500);
        builder.Property(c => c.LastTestOutcome).HasMaxLength(40);
        builder.Property(c => c.StatusBeforeDelete).HasMaxLength(20);
        // Lists filter by account and status, newest first.
        builder.HasIndex(c => new { c.AccountId, c.Status, c.Id });
        builder.HasIndex(c => new { c.AccountId, c.Id });
        builder.HasOne<Account>().WithMany().HasForeignKey(c => c.AccountId).OnDelete(DeleteBehavior.Cascade);
        // A connector in use cannot be deleted (the endpoint says so with a 409 first).
        builder.HasOne<AuthConnector>().WithMany().HasForeignKey(c => c.AuthConnectorId).OnDelete(DeleteBehavior.Restrict);
    }
}
