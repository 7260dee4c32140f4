using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// The hot path's batch writes (RawStatements with a RowsStatement: on SQLite one statement per
/// row, bound by position through SQLitePCLRaw on the writer's connection and through
/// Microsoft.Data.Sqlite elsewhere; on PostgreSQL one statement for the whole batch with each
/// column bound as an array) must store every row exactly as given: each optional value null or set, text with escapes
/// and characters outside the BMP, times given at another offset, and a result written only
/// under its own claim token.
/// </summary>
public abstract class RowsStatementTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    private const string Text = "Zoë \"quoted\" \\ back\u2028line 😀";

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_batch_of_deliveries_results_and_attempts_is_stored_row_for_row_with_every_optional_value_null_or_set(bool inTheWritersRound)
    {
        var account = await NewAccountAsync();
        // Not activated: the dispatcher claims for active connections only, so it leaves these
        // rows alone. They are held, as a draft connection's rows are (the health check's
        // reconciliation would hold pending ones itself), and made now (it expires old held ones).
        var step = await account.ActiveStepAsync("http://127.0.0.1:9/hook", activate: false);
        var (accountId, connectionId, stepId) = (Guid.Parse(account.Id), Guid.Parse(step.ConnectionId), Guid.Parse(step.StepId));
        var at = WebhooksDbContext.ToStoredPrecision(Fixture.Time.GetUtcNow().ToOffset(TimeSpan.FromHours(2)).AddTicks(1234560));
        var full = new WebhookDelivery
        {
            Id = Ids.New(at),
            AccountId = accountId,
            ConnectionId = connectionId,
            WorkflowWebhookId = stepId,
            Status = DeliveryStatuses.Held,
            Ordered = true,
            PayloadJson = """{"contact":{"id":"c1","note":"Zoë \"quoted\" \\ 😀"}}""",
            ContactId = "c1 " + Text,
            Email = "zoe@example.com",
            Phone = "+4915112345678",
            Identifier = "zoe@example.com",
            NextAttemptAt = at.AddSeconds(1),
            CreatedAt = at,
            UpdatedAt = at.AddSeconds(2),
            CompletedAt = at.AddSeconds(3),
            FailureReason = Text,
        };
        var bare = new WebhookDelivery
        {
            Id = Ids.New(at.AddMilliseconds(1)),
            AccountId = accountId,
            ConnectionId = connectionId,
            Status = DeliveryStatuses.Held,
            PayloadJson = "{}",
            NextAttemptAt = at,
            CreatedAt = at,
            UpdatedAt = at,
        };
        var dbFactory = Fixture.Factory.Services.GetRequiredService<IDbContextFactory<WebhooksDbContext>>();

        await InTransactionAsync(db => DeliveryStore.InsertAsync(db, [full, bare], CancellationToken.None));

        await AssertStoredAsync(full);
        await AssertStoredAsync(bare);

        // Claimed under two tokens; a late result under a third token must change nothing.
        var (fullToken, bareToken) = (Guid.NewGuid(), Guid.NewGuid());
        await using (var db = await dbFactory.CreateDbContextAsync())
        {
            await db.Deliveries.Where(d => d.Id == full.Id).ExecuteUpdateAsync(u => u.SetProperty(d => d.ClaimToken, fullToken).SetProperty(d => d.Status, DeliveryStatuses.Delivering));
            await db.Deliveries.Where(d => d.Id == bare.Id).ExecuteUpdateAsync(u => u.SetProperty(d => d.ClaimToken, bareToken).SetProperty(d => d.Status, DeliveryStatuses.Delivering));
        }

        var fullResult = new DeliveryResult(full.Id, fullToken, DeliveryStatuses.Failed, 3, at.AddMinutes(1), at.AddMinutes(2), at.AddMinutes(3), 503, Outcomes.HttpError, Text, "{\"busy\":true} 😀", "max_attempts", at.AddMinutes(4));
        var lateResult = new DeliveryResult(bare.Id, Guid.NewGuid(), DeliveryStatuses.Succeeded, 1, at, at, at, 200, Outcomes.Ok, null, null, null, at);
        var written = 0;
        await InTransactionAsync(async db => written = await DeliveryStore.WriteResultsAsync(db, [fullResult, lateResult], CancellationToken.None));

        Assert.Equal(1, written);
        full.Status = fullResult.Status;
        full.AttemptCount = 3;
        (full.FirstAttemptAt, full.LastAttemptAt, full.UpdatedAt, full.NextAttemptAt) = (fullResult.First, fullResult.At, fullResult.At, fullResult.Next);
        (full.LastStatusCode, full.LastOutcome, full.LastError, full.ResponseBody) = (503, Outcomes.HttpError, Text, fullResult.ResponseBody);
        (full.FailureReason, full.CompletedAt) = ("max_attempts", fullResult.CompletedAt);
        await AssertStoredAsync(full);
        bare.Status = DeliveryStatuses.Delivering;
        bare.ClaimToken = bareToken;
        await AssertStoredAsync(bare);

        // The bare row's own result: every optional value null (a retry after a timeout, held as its connection is not active).
        var bareResult = new DeliveryResult(bare.Id, bareToken, DeliveryStatuses.Held, 1, at, at.AddSeconds(5), at.AddMinutes(10), null, Outcomes.Timeout, null, null, null, null);
        await InTransactionAsync(async db => written = await DeliveryStore.WriteResultsAsync(db, [bareResult], CancellationToken.None));

        Assert.Equal(1, written);
        (bare.Status, bare.ClaimToken, bare.AttemptCount, bare.LastOutcome) = (DeliveryStatuses.Held, null, 1, Outcomes.Timeout);
        (bare.FirstAttemptAt, bare.LastAttemptAt, bare.UpdatedAt, bare.NextAttemptAt) = (at, bareResult.At, bareResult.At, bareResult.Next);
        await AssertStoredAsync(bare);

        var fullAttempt = new Attempt
        {
            Id = Ids.New(at.AddSeconds(10)),
            AccountId = accountId,
            ConnectionId = connectionId,
            DeliveryId = full.Id,
            WorkflowWebhookId = stepId,
            IsTest = true,
            AttemptNumber = 3,
            CreatedAt = at.AddSeconds(10),
            ContactId = "c1",
            Email = "zoe@example.com",
            Phone = "+4915112345678",
            Identifier = "zoe@example.com",
            RequestMethod = "PUT",
            RequestUrl = "http://127.0.0.1:9/hook?q=" + Uri.EscapeDataString(Text),
            RequestHeadersJson = """{"X-Note":"Zoë 😀"}""",
            RequestBody = Text,
            StatusCode = 503,
            ResponseHeadersJson = """{"Retry-After":"5"}""",
            ResponseBody = Text,
            DurationMs = 1234,
            Outcome = Outcomes.HttpError,
            Error = Text,
        };
        var bareAttempt = new Attempt
        {
            Id = Ids.New(at.AddSeconds(11)),
            AccountId = accountId,
            ConnectionId = connectionId,
            CreatedAt = at.AddSeconds(11),
            RequestMethod = "POST",
            RequestUrl = "http://127.0.0.1:9/hook",
            RequestHeadersJson = "{}",
            Outcome = Outcomes.Timeout,
        };

        await InTransactionAsync(db => AttemptRecorder.InsertAsync(db, [fullAttempt, bareAttempt], CancellationToken.None));

        await using (var db = await dbFactory.CreateDbContextAsync())
        {
            AssertSameRow(db, fullAttempt, await db.Attempts.AsNoTracking().SingleAsync(a => a.Id == fullAttempt.Id));
            AssertSameRow(db, bareAttempt, await db.Attempts.AsNoTracking().SingleAsync(a => a.Id == bareAttempt.Id));
        }

        async Task InTransactionAsync(Func<WebhooksDbContext, Task> write)
        {
            if (inTheWritersRound)
            {
                // SQLite: the writer's own connection, whose row statements are kept prepared.
                await Fixture.Factory.Services.GetRequiredService<AcceptCommitter>().InTransactionAsync(
                    async (db, _) =>
                    {
                        await write(db);
                        return true;
                    },
                    CancellationToken.None);
                return;
            }

            await using var db = await dbFactory.CreateDbContextAsync();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await write(db);
            await transaction.CommitAsync();
        }

        async Task AssertStoredAsync(WebhookDelivery expected)
        {
            await using var db = await dbFactory.CreateDbContextAsync();
            AssertSameRow(db, expected, await db.Deliveries.AsNoTracking().SingleAsync(d => d.Id == expected.Id));
        }
    }

    /// <summary>Every mapped property, so that a column the batch statement dropped or shifted cannot pass.</summary>
    private static void AssertSameRow<T>(WebhooksDbContext db, T expected, T actual)
        where T : class
    {
        foreach (var property in db.Model.FindEntityType(typeof(T))!.GetProperties())
        {
            var (want, got) = (property.PropertyInfo!.GetValue(expected), property.PropertyInfo.GetValue(actual));
            Assert.True(Equals(want, got), $"{typeof(T).Name}.{property.Name}: expected {want ?? "null"}, stored {got ?? "null"}");
        }
    }
}

[Collection(SqliteCollection.Name)]
public sealed class RowsStatementTests_Sqlite(SqliteApi fixture) : RowsStatementTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class RowsStatementTests_Postgres(PostgresApi fixture) : RowsStatementTests<PostgresApi>(fixture);
