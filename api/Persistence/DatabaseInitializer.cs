using Microsoft.EntityFrameworkCore;

namespace WebhooksApi.Persistence;

internal sealed class DatabaseInitializer(WebhooksDbContext db, ILogger<DatabaseInitializer> logger)
{
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (db.Database.IsSqlite())
        {
            // WAL lets the API read while the dispatcher writes; the setting is stored in the file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }

        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count > 0)
        {
            var names = string.Join(", ", pending);
            logger.LogInformation("Applying {Count} database migration(s): {Migrations}", pending.Count, names);
        }

        // EF takes a database lock around this, so several nodes starting together migrate once.
        await db.Database.MigrateAsync(cancellationToken);
    }
}
