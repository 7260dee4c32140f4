using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Http;

/// <summary>Marks a creating POST whose repeats with one Idempotency-Key return the first response.</summary>
/// <param name="ClaimsAtCommit">
/// The endpoint commits its writes and its answer in one transaction and nothing before it: a new
/// key is then taken by that commit (see <see cref="IdempotencyClaim"/>), not by a write of its own first.
/// </param>
internal sealed record IdempotentMetadata(bool ClaimsAtCommit)
{
    public static readonly IdempotentMetadata Instance = new(false);

    public static readonly IdempotentMetadata AtCommit = new(true);
}

internal static class IdempotencyExtensions
{
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeaderName = "Idempotent-Replayed";

    /// <summary>Also documents the two answers a key can cause: another body (422) or the first request still running (409).</summary>
    public static RouteHandlerBuilder Idempotent(this RouteHandlerBuilder builder, bool claimAtCommit = false) => builder
        .WithMetadata(claimAtCommit ? IdempotentMetadata.AtCommit : IdempotentMetadata.Instance)
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

    public static WebApplication UseIdempotencyKeys(this WebApplication app)
    {
        app.UseMiddleware<IdempotencyMiddleware>();
        return app;
    }
}

/// <summary>Idempotency-Key settings.</summary>
internal sealed class IdempotencyOptions
{
    public const string Section = "Idempotency";

    /// <summary>
    /// A key whose first request is still "running" after this long is taken over by a repeat
    /// (default 1 min): its node died mid-request (kill -9, crash), and without a takeover the
    /// key would answer 409 for a day. Longer than any request may run.
    /// </summary>
    public TimeSpan TakeOverAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// The running request's hold on its Idempotency-Key (a feature of the HttpContext). An endpoint
/// whose writes must not happen twice stores its answer with <see cref="StoreAsync"/> inside the
/// transaction that commits them: then either both are committed or neither, and a repeat after a
/// crash either replays the answer or runs the request again on a clean slate.
/// </summary>
/// <remarks>
/// A claim at commit (<see cref="IdempotentMetadata.ClaimsAtCommit"/>, a key nobody has used) is
/// not written before the endpoint runs: the statement that stores the answer inserts the key's
/// record with it, or finds that a request with the same key got there first
/// (<see cref="Conflicted"/>; the middleware then answers with that request's record). Before,
/// every keyed execution waited for one round of SQLite's writer to take the key and another to
/// commit its deliveries with the answer (API p50 27 ms against 9 ms without a key). An endpoint
/// that must hold the key before its writes commit (an execution with `wait=true`, whose answer
/// comes after the send) takes it with <see cref="TakeNowAsync"/>.
/// </remarks>
internal sealed class IdempotencyClaim(Guid recordId, DateTimeOffset claimedAt, SecretProtector protector, IdempotencyClaim.AtCommit? atCommit = null)
{
    private AtCommit? _atCommit = atCommit;

    /// <summary>What a claim at commit inserts, and how to take the key at once instead (the middleware's claim; null when another request holds it).</summary>
    internal sealed record AtCommit(string Scope, string Key, string Hash, Func<Task<IdempotencyClaim?>> TakeNow);

    public Guid RecordId => recordId;

    /// <summary>When this request took the key: a takeover moves it, so a late original cannot overwrite the new answer.</summary>
    public DateTimeOffset ClaimedAt => claimedAt;

    /// <summary>True once the endpoint stored its answer itself; the middleware then leaves the record alone.</summary>
    public bool Stored { get; private set; }

    /// <summary>True when a claim at commit found the key taken by another request: its record is the answer.</summary>
    public bool Conflicted { get; private set; }

    // One statement kept prepared on SQLite's writer, where executions store their answers with
    // their rows: through EF's ExecuteUpdate each was translated again on the one thread every
    // accept waits for.
    private const string StoreAnswer = """
        UPDATE idempotency_records SET status_code = @status, content_type = @type, location = @location, body = @body
        WHERE id = @id AND status_code = 0 AND created_at = @claimed
        """;

    private static readonly string[] StoreAnswerParameters = ["@status", "@type", "@location", "@body", "@id", "@claimed"];

    private const string InsertRecord = """
        INSERT INTO idempotency_records (id, scope, key, request_hash, status_code, content_type, location, body, created_at)
        VALUES (@id, @scope, @key, @hash, @status, @type, @location, @body, @claimed)
        ON CONFLICT (scope, key) DO NOTHING
        """;

    private static readonly string[] InsertRecordParameters = ["@id", "@scope", "@key", "@hash", "@status", "@type", "@location", "@body", "@claimed"];

    /// <summary>
    /// The answer to store with the request's writes, its body encrypted here, on the request's
    /// thread: the first answer to a creating POST can be the only showing of a new API key or
    /// signing secret, which must never sit in the database readable.
    /// </summary>
    public IdempotentAnswer Answer(int statusCode, string contentType, byte[] body) => new(this, statusCode, contentType, protector.Protect(body));

    /// <summary>
    /// Takes a claim at commit's key now, as a claim before the endpoint runs would have; true when
    /// this request holds it (always, for any other claim). False: another request holds it
    /// (<see cref="Conflicted"/>); write nothing.
    /// </summary>
    public async Task<bool> TakeNowAsync()
    {
        if (_atCommit is not { } pending)
        {
            return true;
        }

        if (await pending.TakeNow() is not { } taken)
        {
            Conflicted = true;
            return false;
        }

        (recordId, claimedAt, _atCommit) = (taken.RecordId, taken.ClaimedAt, null);
        return true;
    }

    /// <summary>Stores the answer, if this request still holds the key. False: another request took it over; roll back.</summary>
    public async Task<bool> StoreAsync(WebhooksDbContext db, int statusCode, string? contentType, string? location, byte[] body, CancellationToken cancellationToken)
    {
        var protectedBody = protector.Protect(body);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var stored = await StoreProtectedAsync(db, statusCode, contentType, location, protectedBody, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return stored;
    }

    /// <summary>As <see cref="StoreAsync"/>, in the context's current transaction, with a body already encrypted (<see cref="Answer"/>).</summary>
    public async Task<bool> StoreProtectedAsync(WebhooksDbContext db, int statusCode, string? contentType, string? location, byte[] protectedBody, CancellationToken cancellationToken)
    {
        var changed = _atCommit is { } pending
            ? await InsertAsync(db, recordId, pending.Scope, pending.Key, pending.Hash, statusCode, contentType, location, protectedBody, claimedAt, cancellationToken)
            : await RawStatements.ExecuteAsync(db, StoreAnswer, StoreAnswerParameters, [[statusCode, contentType, location, protectedBody, recordId, claimedAt]], cancellationToken);
        Stored = changed == 1;
        Conflicted = _atCommit is not null && !Stored;
        return Stored;
    }

    /// <summary>
    /// Inserts a key's record, in the context's current transaction, unless its scope already has
    /// the key; returns 1 when inserted. One statement, kept prepared on SQLite's writer (through
    /// EF a claim was a read, then SaveChanges with its savepoint: three statements).
    /// </summary>
    internal static Task<int> InsertAsync(
        WebhooksDbContext db, Guid id, string scope, string key, string hash, int statusCode, string? contentType, string? location, byte[]? protectedBody, DateTimeOffset createdAt, CancellationToken cancellationToken) =>
        RawStatements.ExecuteAsync(db, InsertRecord, InsertRecordParameters, [[id, scope, key, hash, statusCode, contentType, location, protectedBody, createdAt]], cancellationToken);

    /// <summary>
    /// The transaction that stored the answer rolled back: the key is still "running", so the
    /// middleware lets it go (a retry then runs the request) instead of leaving it to a takeover.
    /// </summary>
    public void RolledBack() => (Stored, Conflicted) = (false, false);

    /// <summary>Lets the key go (the request failed in a way that is not its answer), if this request still holds it.</summary>
    public Task<int> ReleaseAsync(WebhooksDbContext db, CancellationToken cancellationToken) =>
        _atCommit is not null
            ? Task.FromResult(0) // A claim at commit that stored nothing wrote nothing.
            : db.IdempotencyRecords.Where(r => r.Id == recordId && r.StatusCode == 0 && r.CreatedAt == claimedAt).ExecuteDeleteAsync(cancellationToken);
}

/// <summary>
/// Stores the first response to a POST carrying an Idempotency-Key and replays it for repeats, so
/// a client that lost the answer (timeout, crash) can retry without creating twice. Runs after
/// authentication: keys are scoped to the account, so tenants never see each other's responses.
/// </summary>
internal sealed class IdempotencyMiddleware(
    IDbContextFactory<WebhooksDbContext> dbFactory, AcceptCommitter writes, HotQueries hot, TimeProvider time, IOptions<IdempotencyOptions> options, SecretProtector protector) : IMiddleware
{
    private const int MaxKeyLength = 255;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var key = context.Request.Headers[IdempotencyExtensions.HeaderName].ToString();
        if (key.Length == 0 || !HttpMethods.IsPost(context.Request.Method) || context.GetEndpoint()?.Metadata.GetMetadata<IdempotentMetadata>() is not { } metadata)
        {
            await next(context);
            return;
        }

        if (key.Length > MaxKeyLength)
        {
            await Problems.Write(context, Problems.Validation(IdempotencyExtensions.HeaderName, $"The Idempotency-Key header must be at most {MaxKeyLength} characters."));
            return;
        }

        var ct = context.RequestAborted;
        var scope = Scope(context);
        var hash = await RequestHashAsync(context.Request, ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);

        var claim = metadata.ClaimsAtCommit && !await hot.IdempotencyKeyTakenAsync(context.RequestServices, scope, key, ct)
            ? AtCommit(scope, key, hash)
            : await ClaimAsync(scope, key, hash);
        if (claim is null)
        {
            await ReplayAsync(context, db, scope, key, hash, protector, writes);
            return;
        }

        context.Features.Set(claim);
        var originalBody = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        var completed = false;
        try
        {
            await next(context);
            completed = true;
        }
        finally
        {
            context.Response.Body = originalBody;
            var status = context.Response.StatusCode;
            // The outcome is stored even when the client went away: that is when a retry comes.
            if (claim.Stored || claim.Conflicted)
            {
                // The endpoint stored its answer with its own writes, in one transaction, or its
                // claim at commit found the key taken: that request's record answers (below).
            }
            else if (!completed || status >= 500 || status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden or StatusCodes.Status429TooManyRequests)
            {
                // Server errors and auth failures are not the answer to this request: forget the key so a retry runs it.
                await claim.ReleaseAsync(db, CancellationToken.None);
            }
            else
            {
                var location = context.Response.Headers.Location.ToString() is { Length: > 0 } l ? l : null;
                await claim.StoreAsync(db, status, context.Response.ContentType, location, buffer.ToArray(), CancellationToken.None);
            }
        }

        if (claim.Conflicted)
        {
            // Nothing of this request was written (its endpoint wrote its rows with the answer,
            // which the key's record refused): the request that holds the key answers for both.
            context.Response.Clear();
            await ReplayAsync(context, db, scope, key, hash, protector, writes);
            return;
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(originalBody, ct);
    }

    /// <summary>
    /// A claim at commit on a key nobody has used yet (see <see cref="IdempotencyClaim"/>): nothing
    /// is written now; <see cref="IdempotencyClaim.TakeNowAsync"/> takes the key as
    /// <see cref="ClaimAsync"/> would, under the same record id and time.
    /// </summary>
    private IdempotencyClaim AtCommit(string scope, string key, string hash)
    {
        var now = WebhooksDbContext.ToStoredPrecision(time.GetUtcNow());
        var id = Ids.New(time);
        return new IdempotencyClaim(id, now, protector, new IdempotencyClaim.AtCommit(scope, key, hash, () => ClaimAsync(id, scope, key, hash, now)));
    }

    /// <summary>
    /// Takes the key for this request: a new record, or one left "running" longer than
    /// <see cref="IdempotencyOptions.TakeOverAfter"/> by a node that died. Null: replay what is stored.
    /// </summary>
    /// <remarks>
    /// The claim is a write of the hot path's writer (AcceptCommitter.InTransactionAsync): on
    /// SQLite its next round; on PostgreSQL a transaction of its own, as before. Either way one
    /// INSERT ... ON CONFLICT DO NOTHING decides who holds a new key. Before, on SQLite, each
    /// keyed request committed its claim on a connection of its own, waiting for the write lock
    /// between the writer's rounds (p50 30-44 ms, p90 up to 300 ms under load for such outside
    /// writers, issue #8). Its commit has no fsync of its own there: the answer that ends the
    /// request commits after it with one, and the log is written in order, so a claim is never
    /// lost while its answer survives. Not cancelled with the request: once handed over the claim
    /// may commit anyway, and a request that stopped waiting for it would leave the key "running"
    /// until a takeover; the request's own steps after it still stop when the client goes.
    /// </remarks>
    private Task<IdempotencyClaim?> ClaimAsync(string scope, string key, string hash) =>
        ClaimAsync(Ids.New(time), scope, key, hash, WebhooksDbContext.ToStoredPrecision(time.GetUtcNow()));

    private Task<IdempotencyClaim?> ClaimAsync(Guid id, string scope, string key, string hash, DateTimeOffset now) =>
        writes.InTransactionAsync((db, ct) => TakeAsync(db, id, scope, key, hash, now, ct), CancellationToken.None);

    private async Task<IdempotencyClaim?> TakeAsync(WebhooksDbContext db, Guid id, string scope, string key, string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Twice at most: a record deleted between the two statements (retention of a day-old key) is inserted again.
        for (var tries = 0; tries < 2; tries++)
        {
            // A key's first request inserts its record, still running (status 0); a repeat (or a
            // request racing it) inserts nothing and reads what is there.
            if (await IdempotencyClaim.InsertAsync(db, id, scope, key, hash, 0, null, null, null, now, cancellationToken) == 1)
            {
                return new IdempotencyClaim(id, now, protector);
            }

            var existing = await db.IdempotencyRecords.AsNoTracking().FirstOrDefaultAsync(r => r.Scope == scope && r.Key == key, cancellationToken);
            if (existing is null)
            {
                continue;
            }

            var stale = existing.StatusCode == 0 && existing.CreatedAt < now - options.Value.TakeOverAfter && existing.RequestHash == hash;
            if (!stale)
            {
                return null;
            }

            var taken = await db.IdempotencyRecords
                .Where(r => r.Id == existing.Id && r.StatusCode == 0 && r.CreatedAt == existing.CreatedAt)
                .ExecuteUpdateAsync(u => u.SetProperty(r => r.CreatedAt, now), cancellationToken);
            return taken == 1 ? new IdempotencyClaim(existing.Id, now, protector) : null;
        }

        return null;
    }

    private static async Task ReplayAsync(HttpContext context, WebhooksDbContext db, string scope, string key, string hash, SecretProtector protector, AcceptCommitter writes)
    {
        var record = await db.IdempotencyRecords.AsNoTracking().FirstOrDefaultAsync(r => r.Scope == scope && r.Key == key, context.RequestAborted);
        if (record is null)
        {
            // Released (its request failed) or expired between the two reads: the client may simply retry.
            await Problems.Write(context, Problems.IdempotencyInProgress("Retry: the request that held this Idempotency-Key has just let it go."));
            return;
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(record.RequestHash), Encoding.ASCII.GetBytes(hash)))
        {
            await Problems.Write(context, Problems.Problem(StatusCodes.Status422UnprocessableEntity, Problems.IdempotencyMismatchType,
                "Idempotency-Key reused with a different request.",
                "This Idempotency-Key was first used with another method, path or body. Use a new key for a new request."));
            return;
        }

        if (record.StatusCode == 0)
        {
            await Problems.Write(context, Problems.IdempotencyInProgress("Retry after the first request has finished."));
            return;
        }

        // The answer may have committed moments ago with its accept, which is answered only once
        // the log is synced (AcceptCommitter.DurableAsync): its replay promises no more than it.
        await writes.DurableAsync().WaitAsync(context.RequestAborted);
        context.Response.StatusCode = record.StatusCode;
        context.Response.Headers[IdempotencyExtensions.ReplayedHeaderName] = "true";
        if (record.ContentType is not null)
        {
            context.Response.ContentType = record.ContentType;
        }

        if (record.Location is not null)
        {
            context.Response.Headers.Location = record.Location;
        }

        if (record.Body is { Length: > 0 } stored)
        {
            // A record written before bodies were encrypted replays as stored.
            var body = protector.TryUnprotect(stored) ?? stored;
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        }
    }

    private static string Scope(HttpContext context)
    {
        var account = context.User.FindFirstValue(ApiKeyClaims.AccountId);
        if (account is not null)
        {
            return account;
        }

        // Operator endpoints authenticate in a filter that runs later; scoping by the presented
        // key means a caller without the operator key cannot plant a response for the operator.
        var token = ApiKeyAuthenticationHandler.BearerToken(context.Request) ?? string.Empty;
        return "operator:" + ApiKeyFactory.Hash(token)[..32];
    }

    private static async Task<string> RequestHashAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            hash.AppendData(chunk, 0, read);
        }

        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
