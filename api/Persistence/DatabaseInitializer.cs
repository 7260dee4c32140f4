using Microsoft.EntityFrameworkCore;

namespace WebhooksApi.Persistence;

internal sealed class DatabaseInitializer(WebhooksDbContext db, ILogger<DatabaseInitializer> logger)
{
    /// <summary>The table EF keeps its SQLite migration lock in: one row while a migration runs.</summary>
    internal const string EfLockTable = "__EFMigrationsLock";

    /// <summary>
    /// The page size a new SQLite database is made with (SQLite's default is 4,096). Rows ordered
    /// by a contact's id or identifier land each on another page of their index, and every page a
    /// commit touches is written whole to the log: with 8 KiB pages those indexes have half as
    /// many pages, so a commit touches fewer (its rows share them more often), in fewer writes.
    /// The throughput benchmark, 100,000 executions, five alternated pairs: 8,172 deliveries/s on
    /// average at 4 KiB, 9,278 at 8 KiB, faster in every pair; 16 KiB was no better than 8 (9,450
    /// and 7,342 against 10,027 and 8,122). A database made before keeps its page size (changing
    /// it takes a VACUUM outside WAL mode).
    /// </summary>
    internal const int SqlitePageSize = 8192;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (db.Database.IsSqlite())
        {
            // One connection for both: the page size is taken only by a database with nothing in
            // it yet, on the connection that then writes its first page (a no-op afterwards). WAL
            // lets the API read while the dispatcher writes; the setting is stored in the file.
            await db.Database.OpenConnectionAsync(cancellationToken);
            try
            {
                await using var pragmas = db.Database.GetDbConnection().CreateCommand();
                pragmas.CommandText = $"PRAGMA page_size = {SqlitePageSize}; PRAGMA journal_mode=WAL;";
                await pragmas.ExecuteNonQueryAsync(cancellationToken);
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }

            await MigrateSqliteAsync(cancellationToken);
            return;
        }

        LogPending(await PendingAsync(cancellationToken));
        // PostgreSQL: EF locks its history table (LOCK TABLE, in the migration's transaction), so
        // several nodes starting together migrate once, and a node that dies lets go with it.
        await db.Database.MigrateAsync(cancellationToken);
    }

    /// <summary>
    /// On SQLite EF's migration lock is a row that MigrateAsync inserts and deletes when it is
    /// done, taken before it even looks for pending migrations. A node killed in between (kill -9
    /// while starting, OOM, an evicted container) leaves the row, and every later start waits for
    /// it forever (dotnet/efcore#38958 and the reports around it): a reliability run killed a
    /// starting node and the next start never listened. So: no pending migration, no lock taken;
    /// pending ones are applied under a lock file the operating system releases with its holder,
    /// and under it a row left in EF's table can only be stale and is removed first.
    /// </summary>
    private async Task MigrateSqliteAsync(CancellationToken cancellationToken)
    {
        var pending = await PendingAsync(cancellationToken);
        if (pending.Count == 0)
        {
            return;
        }

        var file = SqliteFiles.PathOf(db.Database.GetConnectionString()!);
        using var held = file is null ? null : await LockFileAsync(file + ".migrating", cancellationToken);
        pending = await PendingAsync(cancellationToken);
        if (pending.Count == 0)
        {
            // Another process applied them while this one waited for the lock file.
            return;
        }

        LogPending(pending);
        if (held is not null && await TableExistsAsync(EfLockTable, cancellationToken))
        {
            var stale = await db.Database.ExecuteSqlRawAsync($"DELETE FROM \"{EfLockTable}\";", cancellationToken);
            if (stale > 0)
            {
                logger.LogWarning("Removed a migration lock left by a process that stopped while migrating");
            }
        }

        await db.Database.MigrateAsync(cancellationToken);
    }

    private async Task<List<string>> PendingAsync(CancellationToken cancellationToken) =>
        (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();

    private void LogPending(List<string> pending)
    {
        if (pending.Count > 0)
        {
            logger.LogInformation("Applying {Count} database migration(s): {Migrations}", pending.Count, string.Join(", ", pending));
        }
    }

    private async Task<bool> TableExistsAsync(string name, CancellationToken cancellationToken) =>
        await db.Database.SqlQueryRaw<long>("SELECT COUNT(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = {0}", name)
            .SingleAsync(cancellationToken) > 0;

    /// <summary>Waits for the lock file (see <see cref="SqliteFiles.TryLock"/>).</summary>
    private async Task<FileStream> LockFileAsync(string path, CancellationToken cancellationToken)
    {
        for (var wait = TimeSpan.FromMilliseconds(50); ; wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.TicksPerSecond)))
        {
            if (SqliteFiles.TryLock(path) is { } held)
            {
                return held;
            }

            logger.LogInformation("Waiting for another process that is migrating the database ({LockFile})", path);
            await Task.Delay(wait, TimeProvider.System, cancellationToken);
        }
    }
}
