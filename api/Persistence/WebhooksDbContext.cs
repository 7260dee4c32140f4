using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace WebhooksApi.Persistence;

internal sealed class WebhooksDbContext(DbContextOptions<WebhooksDbContext> options) : DbContext(options), IDataProtectionKeyContext
{
    public DbSet<Account> Accounts => Set<Account>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();
    public DbSet<Connection> Connections => Set<Connection>();
    public DbSet<AuthConnector> AuthConnectors => Set<AuthConnector>();
    public DbSet<Attempt> Attempts => Set<Attempt>();
    public DbSet<WebhookTemplate> WebhookTemplates => Set<WebhookTemplate>();
    public DbSet<WorkflowWebhook> WorkflowWebhooks => Set<WorkflowWebhook>();
    public DbSet<WebhookDelivery> Deliveries => Set<WebhookDelivery>();
    public DbSet<ActivityEvent> ActivityEvents => Set<ActivityEvent>();
    public DbSet<ActivityWebhook> ActivityWebhooks => Set<ActivityWebhook>();
    public DbSet<ActivityBatch> ActivityBatches => Set<ActivityBatch>();

    /// <summary>Data Protection's key ring, shared by every node through the database.</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    private bool? _isPostgres;

    /// <summary>
    /// Whether this context runs on PostgreSQL, asked of EF once per pooled context instead of on
    /// every hot-path statement (each asking resolves services: 1.8% of CPU in a latency profile).
    /// </summary>
    public bool IsPostgres => _isPostgres ??= Database.IsNpgsql();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no timestamp type, and EF cannot compare or order DateTimeOffset stored as
        // TEXT. Microseconds since the epoch as INTEGER keep ordering, range queries and the same
        // precision as PostgreSQL's timestamptz.
        if (Database.IsSqlite())
        {
            configurationBuilder.Properties<DateTimeOffset>().HaveConversion<UnixMicrosecondsConverter>();
            configurationBuilder.Properties<Guid>().HaveConversion<SqliteIds.Converter>();
        }
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(WebhooksDbContext).Assembly);
        modelBuilder.Entity<DataProtectionKey>().ToTable("data_protection_keys");
        SnakeCaseNames.Apply(modelBuilder);
    }

    /// <summary>How SQLite stores a time; raw statements below EF bind it the same way.</summary>
    public static long ToUnixMicroseconds(DateTimeOffset value) => (value.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    /// <summary>A time as SQLite stores it, read back (raw readers below EF read it the same way).</summary>
    public static DateTimeOffset FromUnixMicroseconds(long microseconds) => new(DateTimeOffset.UnixEpoch.Ticks + (microseconds * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    /// <summary>
    /// A time cut to microseconds, the precision both databases store: a value written with it
    /// compares equal when read back (an Idempotency-Key claim's time is matched that way).
    /// </summary>
    public static DateTimeOffset ToStoredPrecision(DateTimeOffset value) => FromUnixMicroseconds(ToUnixMicroseconds(value));

    /// <summary>
    /// A time as a raw SQL parameter, stored as EF stores it (raw SQL bypasses EF's converters):
    /// microseconds on SQLite, UTC timestamptz on PostgreSQL.
    /// </summary>
    public object TimestampParameter(DateTimeOffset value) => IsPostgres ? value.ToUniversalTime() : ToUnixMicroseconds(value);

    /// <summary>
    /// An id as a raw SQL parameter, stored as EF stores it: uuid on PostgreSQL, 16 bytes on SQLite
    /// (<see cref="SqliteIds"/>). A Guid passed as it is would be bound by its CLR type, as TEXT on
    /// SQLite, and match nothing.
    /// </summary>
    public object IdParameter(Guid value) => IsPostgres ? value : SqliteIds.ToBytes(value);

    private sealed class UnixMicrosecondsConverter() : ValueConverter<DateTimeOffset, long>(
        v => ToUnixMicroseconds(v),
        v => FromUnixMicroseconds(v));
}
