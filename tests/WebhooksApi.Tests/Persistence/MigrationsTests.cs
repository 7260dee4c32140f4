using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

public abstract class MigrationsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>A database of its own, so migrating it step by step cannot disturb other tests.</summary>
    private protected async Task<WebhooksDbContext> FreshDatabaseAsync()
    {
        SkipIfUnavailable();
        var connectionString = await Fixture.Databases.CreateRequiredAsync("upgrade.db");
        var options = new DbContextOptionsBuilder<WebhooksDbContext>();
        PersistenceExtensions.Configure(options, new DatabaseOptions { Provider = Fixture.Provider }, connectionString);
        return new WebhooksDbContext(options.Options);
    }

    [SkippableFact]
    public async Task A_database_at_the_previous_migration_upgrades_without_losing_rows()
    {
        await using var db = await FreshDatabaseAsync();
        var migrations = db.Database.GetMigrations().ToList();
        Assert.True(migrations.Count >= 2, "needs a previous migration to upgrade from");
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync(migrations[^2]);

        var id = Guid.CreateVersion7();
        var created = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        // Raw SQL: the entity model is the newest one and may not fit the older schema.
        // Values as the previous migration stores them: since 20261201000009_BlobIds, ids on SQLite are 16 bytes.
        await db.Database.ExecuteSqlRawAsync("INSERT INTO accounts (id, name, created_at) VALUES ({0}, {1}, {2})", db.IdParameter(id), "kept", db.TimestampParameter(created));

        await migrator.MigrateAsync();

        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == id);
        Assert.Equal("kept", account.Name);
        Assert.Equal(created, account.CreatedAt);
    }

    [SkippableFact]
    public async Task An_attempt_whose_identifier_is_not_its_email_gets_it_on_upgrade_so_the_email_filter_still_finds_it()
    {
        await using var db = await FreshDatabaseAsync();
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync("20261201000012_NoTokenIndex");

        var at = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        var account = Guid.CreateVersion7();
        var rows = new (Guid Id, string? Email, string? Identifier)[]
        {
            (Guid.CreateVersion7(), "ana@example.com", "Ana@Example.com"), // an identifier kept as the caller cased it
            (Guid.CreateVersion7(), "ana@example.com", null),
            (Guid.CreateVersion7(), "ana@example.com", "ana@example.com"),
            (Guid.CreateVersion7(), null, "+15550001"), // no email: its identifier stays
        };
        foreach (var (id, email, identifier) in rows)
        {
            await db.Database.ExecuteSqlRawAsync(
                """
                INSERT INTO attempts (id, account_id, connection_id, is_test, attempt_number, created_at, email, identifier, request_method, request_url, request_headers_json, duration_ms, outcome)
                VALUES ({0}, {1}, {2}, {3}, 1, {4}, NULLIF({5}, ''), NULLIF({6}, ''), 'POST', 'https://example.com/hook', '{{}}', 5, 'ok')
                """,
                db.IdParameter(id), db.IdParameter(account), db.IdParameter(Guid.CreateVersion7()), db.Database.IsSqlite() ? 0 : false, db.TimestampParameter(at), email ?? string.Empty, identifier ?? string.Empty); // '' for NULL: a typed parameter on both providers
        }

        await migrator.MigrateAsync();

        // The log endpoint's email filter.
        var found = await db.Attempts.AsNoTracking()
            .Where(a => a.AccountId == account).WithEmail("ana@example.com")
            .Select(a => a.Id).ToListAsync();
        Assert.Equal(rows.Where(r => r.Email is not null).Select(r => r.Id).Order(), found.Order());
        Assert.Equal("+15550001", await db.Attempts.Where(a => a.Id == rows[3].Id).Select(a => a.Identifier).SingleAsync());
    }

    [SkippableFact]
    public async Task A_delivery_whose_identifier_is_not_its_email_gets_it_on_upgrade_so_the_email_filter_still_finds_it()
    {
        await using var db = await FreshDatabaseAsync();
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync("20261201000013_EmailThroughIdentifier");

        var at = new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero);
        var account = Guid.CreateVersion7();
        var rows = new (Guid Id, string? Email, string? Identifier)[]
        {
            (Guid.CreateVersion7(), "ana@example.com", "Ana@Example.com"), // accepted before 9473d46: the identifier as the caller cased it
            (Guid.CreateVersion7(), "ana@example.com", null),
            (Guid.CreateVersion7(), "ana@example.com", "ana@example.com"),
            (Guid.CreateVersion7(), null, "+15550001"), // no email: its identifier stays
        };
        foreach (var (id, email, identifier) in rows)
        {
            await db.Database.ExecuteSqlRawAsync(
                """
                INSERT INTO deliveries (id, account_id, connection_id, status, ordered, payload_json, email, identifier, attempt_count, next_attempt_at, created_at, updated_at)
                VALUES ({0}, {1}, {2}, 'succeeded', {3}, '{{}}', NULLIF({4}, ''), NULLIF({5}, ''), 1, {6}, {6}, {6})
                """,
                db.IdParameter(id), db.IdParameter(account), db.IdParameter(Guid.CreateVersion7()), db.Database.IsSqlite() ? 0 : false, email ?? string.Empty, identifier ?? string.Empty, db.TimestampParameter(at)); // '' for NULL: a typed parameter on both providers
        }

        await migrator.MigrateAsync();

        // The deliveries list's email filter.
        var found = await db.Deliveries.AsNoTracking()
            .Where(d => d.AccountId == account).WithEmail("ana@example.com")
            .Select(d => d.Id).ToListAsync();
        Assert.Equal(rows.Where(r => r.Email is not null).Select(r => r.Id).Order(), found.Order());
        Assert.Equal("+15550001", await db.Deliveries.Where(d => d.Id == rows[3].Id).Select(d => d.Identifier).SingleAsync());
    }

    [SkippableFact]
    public async Task The_migrated_schema_has_every_table_and_column_of_the_model()
    {
        await using var db = await FreshDatabaseAsync();
        await db.Database.MigrateAsync();
        foreach (var entity in db.Model.GetEntityTypes())
        {
            var table = entity.GetTableName()!;
            var columns = entity.GetProperties().Select(p => p.GetColumnName()).ToList();
            // Fails with "no such column" / "column does not exist" when a migration forgot one.
            var sql = $"SELECT {string.Join(", ", columns.Select(c => $"\"{c}\""))} FROM \"{table}\" WHERE 1 = 0";
            await db.Database.ExecuteSqlRawAsync(sql);
        }
    }

    [SkippableFact]
    public async Task The_migrated_schema_has_every_index_of_the_model()
    {
        await using var db = await FreshDatabaseAsync();
        await db.Database.MigrateAsync();
        var sql = db.Database.IsSqlite()
            ? "SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'index' AND name = {0}"
            : "SELECT count(*)::int AS \"Value\" FROM pg_indexes WHERE indexname = {0}";
        var missing = new List<string>();
        foreach (var index in db.Model.GetEntityTypes().SelectMany(e => e.GetIndexes()))
        {
            var name = index.GetDatabaseName()!;
            if (await db.Database.SqlQueryRaw<int>(sql, name).SingleAsync() == 0)
            {
                missing.Add(name);
            }
        }

        // A model index no migration creates is a filter that is fast in tests and slow in production.
        Assert.Empty(missing);
    }

    [SkippableFact]
    public async Task The_migrated_indexes_of_the_model_tables_are_the_models_and_partial_where_the_model_says()
    {
        await using var db = await FreshDatabaseAsync();
        await db.Database.MigrateAsync();
        var tables = db.Model.GetEntityTypes().Select(e => e.GetTableName()!).ToHashSet();
        var model = db.Model.GetEntityTypes().SelectMany(e => e.GetIndexes()).ToDictionary(i => i.GetDatabaseName()!, i => i.GetFilter() is not null);

        // Every index of the model's tables but primary keys (SQLite's autoindexes have no SQL).
        var sql = db.Database.IsSqlite()
            ? "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            : "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE 'PK\\_%'";
        var found = new Dictionary<string, bool>();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = sql;
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                if (tables.Contains(reader.GetString(1)))
                {
                    found[reader.GetString(0)] = reader.GetString(2).Contains(" WHERE ", StringComparison.OrdinalIgnoreCase);
                }
            }
        }

        // An index left behind by a migration costs every write and no query uses it; a partial
        // index built whole (or the reverse) is a different index under the model's name.
        Assert.Equal(model.OrderBy(i => i.Key, StringComparer.Ordinal), found.OrderBy(i => i.Key, StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Timestamps_round_trip_with_microsecond_precision()
    {
        await using var db = await FreshDatabaseAsync();
        await db.Database.MigrateAsync();
        var at = new DateTimeOffset(2026, 11, 23, 10, 11, 12, TimeSpan.Zero).AddTicks(1234560);
        db.Accounts.Add(new Account { Id = Guid.CreateVersion7(), Name = "t", CreatedAt = at });
        await db.SaveChangesAsync();
        db.ChangeTracker.Clear();
        var found = await db.Accounts.Where(a => a.CreatedAt >= at && a.CreatedAt < at.AddTicks(10)).SingleAsync();
        Assert.Equal(at, found.CreatedAt);
    }
}

[Collection(SqliteCollection.Name)]
public sealed class MigrationsTests_Sqlite(SqliteApi fixture) : MigrationsTests<SqliteApi>(fixture)
{
    // SQLite's alone: EXPLAIN QUERY PLAN is SQLite's, and PostgreSQL plans by the table's statistics.
    [SkippableTheory]
    [InlineData("\"identifier\" = $value", "IX_deliveries_account_id_identifier_id")] // ?identifier= and ?email= (checked on the page's rows)
    [InlineData("\"contact_id\" = $value", "IX_deliveries_account_id_contact_id_id")] // ?contactId=
    public async Task The_log_contact_filters_read_the_contacts_deliveries_and_their_attempts_on_sqlite(string filter, string deliveriesIndex)
    {
        // GET /v1/logs?email=... for a contact's deliveries' attempts (the log's SourcesAsync and
        // FirstRowsAsync): the page's ids, then their rows.
        var plan = await PlanAsync($"""
            SELECT "a"."id", "a"."request_url" FROM "attempts" AS "a"
            WHERE "a"."id" IN (
              SELECT "a0"."id" FROM "attempts" AS "a0"
              WHERE "a0"."delivery_id" IN (SELECT "d"."id" FROM "deliveries" AS "d" WHERE "d"."account_id" = $account AND {filter})
              ORDER BY "a0"."id" DESC LIMIT 50)
            ORDER BY "a"."id" DESC LIMIT 50
            """);

        Assert.Contains(plan, p => p.Contains(deliveriesIndex, StringComparison.Ordinal));
        // The ids sorted from the index alone, no row read for them.
        Assert.Contains(plan, p => p.Contains("COVERING INDEX " + WebhooksApi.Persistence.Migrations.AttemptsByDeliveryWithId.Built, StringComparison.Ordinal));
        // Never the account's whole log walked in id order, each row tested against the deliveries.
        Assert.DoesNotContain(plan, p => p.StartsWith("SCAN", StringComparison.Ordinal) || p.Contains("IX_attempts_account_id_id", StringComparison.Ordinal));
        Assert.All(WebhooksApi.Persistence.Migrations.AttemptSubjectsThroughDeliveries.Dropped, dropped => Assert.DoesNotContain(plan, p => p.Contains(dropped, StringComparison.Ordinal)));
    }

    [SkippableTheory]
    [InlineData("\"identifier\" = $value AND \"email\" = $value")] // ?email=
    [InlineData("\"identifier\" = $value")] // ?identifier= in lower case
    [InlineData("(\"identifier\" = $value OR \"identifier\" = lower($value))")] // ?identifier= with capitals: two probes
    public async Task The_deliveries_email_and_identifier_filters_read_the_identifier_index_on_sqlite(string filter)
    {
        var plan = await PlanAsync($"""
            SELECT "id" FROM "deliveries"
            WHERE "account_id" = $account AND {filter} ORDER BY "id" DESC LIMIT 50
            """);

        Assert.Contains(plan, p => p.Contains(WebhooksApi.Persistence.Migrations.DeliveryIdentifierIndex.Built, StringComparison.Ordinal));
        Assert.DoesNotContain(plan, p => p.Contains(WebhooksApi.Persistence.Migrations.DeliveryIdentifierIndex.Dropped, StringComparison.Ordinal));
    }

    /// <summary>SQLite's plan for <paramref name="query"/> on a migrated database, an account id bound to $account and an email to $value.</summary>
    private async Task<List<string>> PlanAsync(string query)
    {
        await using var db = await FreshDatabaseAsync();
        await db.Database.MigrateAsync();
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + query;
        var account = command.CreateParameter();
        account.ParameterName = "$account";
        account.Value = db.IdParameter(Guid.CreateVersion7());
        command.Parameters.Add(account);
        var value = command.CreateParameter();
        value.ParameterName = "$value";
        value.Value = "ana@example.com";
        command.Parameters.Add(value);

        var plan = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(3));
            }
        }

        return plan;
    }
}

[Collection(PostgresCollection.Name)]
public sealed class MigrationsTests_Postgres(PostgresApi fixture) : MigrationsTests<PostgresApi>(fixture);
