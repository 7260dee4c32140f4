using Microsoft.EntityFrameworkCore;

namespace WebhooksApi.Persistence;

/// <summary>The key fields authentication needs, read by the key's hash.</summary>
internal sealed record ApiKeyGrant(Guid Id, Guid AccountId, string Scopes);

/// <summary>A workflow step with the connection it sends through.</summary>
internal sealed record StepWithConnection(WorkflowWebhook Step, Connection Connection);

/// <summary>
/// Queries that run on every accepted call, compiled once. A LINQ query is otherwise walked,
/// hashed and looked up in EF's query cache on each execution: in the latency benchmark's
/// profile the API-key lookup, the step lookup and the connection lookup together took 30% of
/// the process's CPU, most of it that per-call work rather than SQLite.
/// </summary>
internal static class HotQueries
{
    // A compiled query keeps the executor of the provider it first ran on, so each provider gets
    // its own (the tests run SQLite and PostgreSQL in one process).
    private static readonly Compiled Sqlite = new();
    private static readonly Compiled Postgres = new();

    /// <summary>The live key with this SHA-256 hash, or null when unknown or revoked.</summary>
    public static Task<ApiKeyGrant?> ApiKeyAsync(WebhooksDbContext db, string hash, CancellationToken cancellationToken) =>
        For(db).ApiKeyByHash(db, hash, cancellationToken);

    /// <summary>The caller's step with this route id and its connection; null when not theirs or malformed (404).</summary>
    public static Task<StepWithConnection?> OwnedStepAsync(WebhooksDbContext db, Guid accountId, string id, CancellationToken cancellationToken) =>
        Guid.TryParse(id, out var key) ? For(db).OwnedStep(db, accountId, key, cancellationToken) : Task.FromResult<StepWithConnection?>(null);

    private static Compiled For(WebhooksDbContext db) => db.IsPostgres ? Postgres : Sqlite;

    private sealed class Compiled
    {
        public Func<WebhooksDbContext, string, CancellationToken, Task<ApiKeyGrant?>> ApiKeyByHash { get; } =
            EF.CompileAsyncQuery((WebhooksDbContext db, string hash, CancellationToken _) =>
                db.ApiKeys.AsNoTracking()
                    .Where(k => k.KeyHash == hash && k.RevokedAt == null)
                    .Select(k => new ApiKeyGrant(k.Id, k.AccountId, k.Scopes))
                    .FirstOrDefault());

        public Func<WebhooksDbContext, Guid, Guid, CancellationToken, Task<StepWithConnection?>> OwnedStep { get; } =
            EF.CompileAsyncQuery((WebhooksDbContext db, Guid accountId, Guid id, CancellationToken _) =>
                db.WorkflowWebhooks.AsNoTracking()
                    .Where(w => w.Id == id && w.AccountId == accountId)
                    .Join(db.Connections.AsNoTracking(), w => w.ConnectionId, c => c.Id, (w, c) => new StepWithConnection(w, c))
                    .FirstOrDefault());
    }
}
