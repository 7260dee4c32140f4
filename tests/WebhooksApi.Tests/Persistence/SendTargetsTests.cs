using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// The dispatcher's reads after a claim (HotQueries.SendTargetsAsync: on SQLite raw prepared
/// statements whose columns come from EF's model) must give what EF itself reads, every property.
/// </summary>
public abstract class SendTargetsTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task Connections_auth_connectors_and_steps_read_for_sending_equal_what_EF_reads_in_every_property()
    {
        var account = await NewAccountAsync();
        var accountId = Guid.Parse(account.Id);
        var services = Fixture.Factory.Services;
        var dbFactory = services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>();
        var at = WebhooksDbContext.ToStoredPrecision(new DateTimeOffset(2026, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234560));
        var auth = new AuthConnector
        {
            Id = Guid.CreateVersion7(),
            AccountId = accountId,
            Name = "crm token",
            Type = "bearer",
            PublicJson = """{"place":"header"}""",
            SecretsProtected = "protected-secrets",
            CreatedAt = at,
            UpdatedAt = at.AddMinutes(1),
        };
        // Every property set to something other than its default, so that a property the raw
        // read forgot could not pass by being left at the default on both sides.
        var connection = new Connection
        {
            Id = Guid.CreateVersion7(),
            AccountId = accountId,
            Title = "All fields",
            Url = "https://example.com/hook?x=1",
            Method = "PUT",
            HeadersJson = """{"X-Tenant":"{{account.name}}"}""",
            AuthConnectorId = auth.Id,
            BodyFormat = "form",
            BodyTemplate = "email={{contact.email}}",
            ParamsInHeaders = true,
            TimeoutSeconds = 17,
            MaxConcurrency = 3,
            RateLimitPerSecond = 9,
            RetryPolicyJson = """{"kind":"fixed"}""",
            ExpectJsonResponse = true,
            Status = "paused",
            StatusReason = "by hand",
            StatusChangedAt = at.AddMinutes(2),
            ShapeVersion = 4,
            TestedShapeVersion = 3,
            LastTestedAt = at.AddMinutes(3),
            LastTestOutcome = "http_error",
            SigningSecretProtected = "protected-secret",
            PreviousSigningSecretProtected = "protected-previous",
            PreviousSecretExpiresAt = at.AddDays(1),
            CreatedAt = at.AddMinutes(-5),
            UpdatedAt = at.AddMinutes(4),
            DeletedAt = at.AddMinutes(6),
            StatusBeforeDelete = "active",
            FailingSince = at.AddMinutes(5),
        };
        var step = new WorkflowWebhook
        {
            Id = Guid.CreateVersion7(),
            AccountId = accountId,
            Name = "step",
            WorkflowId = "wf-1",
            StepId = "s-1",
            ConnectionId = connection.Id,
            FieldsJson = """["email"]""",
            ExtraJson = """{"a":"b"}""",
            CaptureResponse = true,
            CreatedAt = at.AddMinutes(7),
            UpdatedAt = at.AddMinutes(8),
        };
        await using (var db = await dbFactory.CreateDbContextAsync())
        {
            db.AddRange(auth, connection, step);
            await db.SaveChangesAsync();
        }

        var missing = Guid.CreateVersion7();
        await using var read = await dbFactory.CreateDbContextAsync();
        var targets = await services.GetRequiredService<HotQueries>().SendTargetsAsync(read, [connection.Id, missing], [step.Id, missing], CancellationToken.None);

        var accountName = await read.Accounts.Where(a => a.Id == accountId).Select(a => a.Name).SingleAsync();
        Assert.Equal([connection.Id], targets.Connections.Keys);
        Assert.Equal(accountName, targets.Connections[connection.Id].AccountName);
        AssertSameRow(read, await read.Connections.AsNoTracking().SingleAsync(c => c.Id == connection.Id), targets.Connections[connection.Id].Connection);
        Assert.Equal([auth.Id], targets.Auths.Keys);
        AssertSameRow(read, await read.AuthConnectors.AsNoTracking().SingleAsync(a => a.Id == auth.Id), targets.Auths[auth.Id]);
        Assert.Equal([step.Id], targets.Steps.Keys);
        AssertSameRow(read, await read.WorkflowWebhooks.AsNoTracking().SingleAsync(w => w.Id == step.Id), targets.Steps[step.Id]);
    }

    [SkippableFact]
    public async Task A_connection_without_auth_and_a_claim_without_steps_read_nothing_more()
    {
        var account = await NewAccountAsync();
        var id = Guid.Parse((await account.Admin().CreateConnectionAsync(Builders.Connection("http://127.0.0.1:9/hook"))).Id());
        var services = Fixture.Factory.Services;
        await using var db = await services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>().CreateDbContextAsync();

        var targets = await services.GetRequiredService<HotQueries>().SendTargetsAsync(db, [id], [], CancellationToken.None);

        Assert.Equal("http://127.0.0.1:9/hook", targets.Connections[id].Connection.Url);
        Assert.Null(targets.Connections[id].Connection.AuthConnectorId);
        Assert.Empty(targets.Auths);
        Assert.Empty(targets.Steps);
    }

    private static void AssertSameRow<T>(WebhooksDbContext db, T expected, T actual)
        where T : class
    {
        foreach (var property in db.Model.FindEntityType(typeof(T))!.GetProperties())
        {
            var value = property.PropertyInfo!.GetValue(expected);
            var clrDefault = property.ClrType.IsValueType && Nullable.GetUnderlyingType(property.ClrType) is null ? Activator.CreateInstance(property.ClrType) : null;
            Assert.False(Equals(value, clrDefault), $"{typeof(T).Name}.{property.Name} is left at its default in this test: set it, or the comparison proves nothing for it.");
            Assert.Equal(value, property.PropertyInfo.GetValue(actual));
        }
    }
}

[Collection(SqliteCollection.Name)]
public sealed class SendTargetsTests_Sqlite(SqliteApi fixture) : SendTargetsTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class SendTargetsTests_Postgres(PostgresApi fixture) : SendTargetsTests<PostgresApi>(fixture);
