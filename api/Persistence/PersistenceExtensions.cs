using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace WebhooksApi.Persistence;

internal sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>The largest writer cache allowed (64 GiB), far past any page count a node holds; SQLite takes the size in KiB as a 32-bit number.</summary>
    public const int MaxSqliteWriterCacheMiB = 65_536;

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>
    /// PostgreSQL: accept transactions a node runs at once (default 4). Executions calls that
    /// arrive while all are busy wait and commit together in the next (see AcceptCommitter).
    /// </summary>
    public int PostgresAcceptWriters { get; set; } = 4;

    /// <summary>
    /// SQLite: the page cache of the writer's connection, in MiB (default 32). SQLite's own default
    /// is 2 MB: under sustained load the writer read the pages of its scattered index entries back
    /// from the log again and again (a sixth of its CPU in pread), pages it had written itself.
    /// The cache fills only as far as the pages it holds: a small database does not take it all.
    /// </summary>
    public int SqliteWriterCacheMiB { get; set; } = 32;

    public bool IsPostgres => string.Equals(Provider, "postgres", StringComparison.OrdinalIgnoreCase)
        || string.Equals(Provider, "postgresql", StringComparison.OrdinalIgnoreCase);
}

internal static class PersistenceExtensions
{
    public const string DefaultSqliteConnectionString = "Data Source=data/webhooks.db";

    private static readonly SqliteBusyTimeout BusyTimeout = new();

    public static WebApplicationBuilder AddPersistence(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        if (!options.IsPostgres && !string.Equals(options.Provider, "sqlite", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Database:Provider must be 'sqlite' or 'postgres', not '{options.Provider}'.");
        }

        // Checked on both providers: a setting that would not work should not wait for a switch
        // of provider to say so.
        if (options.PostgresAcceptWriters < 1)
        {
            throw new InvalidOperationException($"Database:PostgresAcceptWriters must be at least 1, not {options.PostgresAcceptWriters}.");
        }

        if (options.SqliteWriterCacheMiB is < 1 or > DatabaseOptions.MaxSqliteWriterCacheMiB)
        {
            throw new InvalidOperationException(
                $"Database:SqliteWriterCacheMiB must be between 1 and {DatabaseOptions.MaxSqliteWriterCacheMiB}, not {options.SqliteWriterCacheMiB}.");
        }

        builder.Services.AddSingleton(Options.Create(options));
        var connectionString = builder.Configuration.GetConnectionString("Webhooks");
        if (options.IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException("Database:Provider is 'postgres' but ConnectionStrings:Webhooks is not set.");
            }

            connectionString = WithNpgsqlDefaults(connectionString);
        }
        else
        {
            connectionString = SqliteFiles.Prepare(connectionString ?? DefaultSqliteConnectionString, builder.Environment.ContentRootPath);
            // Before anything opens the database: Quartz's store connections get the busy handler too.
            SqliteBusyTimeout.BusyHandler.InstallOnEveryConnection();
        }

        builder.Services.AddPooledDbContextFactory<WebhooksDbContext>(db => Configure(db, options, connectionString));
        // Built by the container, not handed to it: a singleton given as an instance is never
        // disposed, and its prepared connections kept the database's files open after the host
        // stopped (the benchmark process held 19 deleted database files by its third run).
        builder.Services.AddSingleton(sp => new HotQueries(options.IsPostgres ? null : connectionString, sp.GetRequiredService<IDbContextFactory<WebhooksDbContext>>()));
        if (!options.IsPostgres)
        {
            builder.Services.AddSingleton(sp => new SqliteCheckpointer(connectionString, sp.GetRequiredService<ILogger<SqliteCheckpointer>>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<SqliteCheckpointer>());
            builder.Services.AddHostedService<NativeMemoryTrimmer>();
        }

        // Endpoints take a scoped context; background work and middleware that must not share the
        // request's change tracker create their own from the factory.
        builder.Services.AddScoped(sp =>
        {
            var db = sp.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContext();
            if (!options.IsPostgres)
            {
                // One open per request instead of one per statement: on SQLite each open takes a
                // pooled handle and has EF register its dozen SQL functions on it again (the
                // opens and closes were a third of each lookup's cost in the latency profile).
                // Not on PostgreSQL, where a request would hold a pooled server connection while it
                // waits.
                db.Database.OpenConnection();
            }

            return db;
        });
        builder.Services.AddScoped<DatabaseInitializer>();
        return builder;
    }

    /// <summary>Statements Npgsql keeps prepared per physical connection unless the connection string says otherwise.</summary>
    internal const int DefaultMaxAutoPrepare = 64;

    /// <summary>
    /// Npgsql's settings for this workload, each unless the connection string sets it:
    /// <list type="bullet">
    /// <item>Automatic preparation (<see cref="DefaultMaxAutoPrepare"/>). Without it the server
    /// parses, analyzes and plans every statement it is sent, the same few hot statements
    /// thousands of times a second (each row of a batched write is a statement): a third of the
    /// server's CPU in a profile of the throughput benchmark on PostgreSQL.</item>
    /// <item>No reset on close. A connection going back to the pool otherwise has its session
    /// reset on its next use (RESET ALL, SET SESSION AUTHORIZATION DEFAULT, advisory and cursor
    /// release, UNLISTEN, DISCARD SEQUENCES): six statements each time, twice per single-execution
    /// call, and 16% of the server's CPU at 500 and at 1,000 single calls/s (issue #8). The
    /// service leaves no session state behind: no SET outside a transaction, no LISTEN, no temp
    /// tables; EF's migration lock is a table lock (LOCK TABLE), which ends with its transaction;
    /// an open transaction is still rolled back when its connection goes back.</item>
    /// </list>
    /// </summary>
    internal static string WithNpgsqlDefaults(string connectionString)
    {
        // The plain builder holds only the keys the string has (Npgsql's answers for every keyword it knows).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        bool Has(string key) => given.Keys.Cast<string>().Any(k => k.Replace(" ", string.Empty, StringComparison.Ordinal).Equals(key, StringComparison.OrdinalIgnoreCase));
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!Has("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        if (!Has("NoResetOnClose"))
        {
            builder.NoResetOnClose = true;
        }

        return builder.ConnectionString;
    }

    /// <summary>The one place that knows how each provider is set up (tests and benchmarks use it too).</summary>
    public static void Configure(DbContextOptionsBuilder db, DatabaseOptions options, string connectionString)
    {
        if (options.IsPostgres)
        {
            db.UseNpgsql(connectionString, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"));
        }
        else
        {
            db.UseSqlite(connectionString, sqlite => sqlite.MigrationsHistoryTable("__ef_migrations_history"));
            db.AddInterceptors(BusyTimeout);
        }

        // Migrations are written by hand (EF's design-time package is not served here), so
        // there is no model snapshot for EF to compare with; MigrationsTests compares the
        // migrated schema with the model instead.
        // BlobIds turns SQLite's foreign keys off around its table rebuild, which SQLite allows
        // only outside a transaction; the rebuild itself is one transaction and converts only ids
        // still in TEXT, so a start cut short there is finished by the next one, not left to an
        // operator as the warning says.
        db.ConfigureWarnings(w => w.Ignore(RelationalEventId.PendingModelChangesWarning, RelationalEventId.NonTransactionalMigrationOperationWarning));
    }

    public static async Task MigrateDatabaseAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DatabaseInitializer>().InitializeAsync(cancellationToken);
    }
}
