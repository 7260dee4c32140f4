using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace WebhooksApi.Persistence;

internal sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>
    /// PostgreSQL: accept transactions a node runs at once (default 4). Executions calls that
    /// arrive while all are busy wait and commit together in the next (see AcceptCommitter).
    /// </summary>
    public int PostgresAcceptWriters { get; set; } = 4;

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

        builder.Services.AddSingleton(Options.Create(options));
        var connectionString = builder.Configuration.GetConnectionString("Webhooks");
        if (options.IsPostgres)
        {
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new InvalidOperationException("Database:Provider is 'postgres' but ConnectionStrings:Webhooks is not set.");
            }

            connectionString = WithAutoPrepare(connectionString);
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
    /// Turns on Npgsql's automatic preparation unless the connection string sets it. Without it the
    /// server parses, analyzes and plans every statement it is sent, the same few hot statements
    /// thousands of times a second (each row of a batched write is a statement): a third of the
    /// server's CPU in a profile of the throughput benchmark on PostgreSQL.
    /// </summary>
    internal static string WithAutoPrepare(string connectionString)
    {
        // The plain builder holds only the keys the string has (Npgsql's answers for every keyword it knows).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (given.Keys.Cast<string>().Any(k => k.Replace(" ", string.Empty, StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase)))
        {
            return connectionString;
        }

        return new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = DefaultMaxAutoPrepare }.ConnectionString;
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
