using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Http;

/// <summary>Marks a creating POST whose repeats with one Idempotency-Key return the first response.</summary>
internal sealed class IdempotentMetadata
{
    public static readonly IdempotentMetadata Instance = new();
}

internal static class IdempotencyExtensions
{
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeaderName = "Idempotent-Replayed";

    /// <summary>Also documents the two answers a key can cause: another body (422) or the first request still running (409).</summary>
    public static RouteHandlerBuilder Idempotent(this RouteHandlerBuilder builder) => builder
        .WithMetadata(IdempotentMetadata.Instance)
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

    public static WebApplication UseIdempotencyKeys(this WebApplication app)
    {
        app.UseMiddleware<IdempotencyMiddleware>();
        return app;
    }
}

/// <summary>
/// Stores the first response to a POST carrying an Idempotency-Key and replays it for repeats, so
/// a client that lost the answer (timeout, crash) can retry without creating twice. Runs after
/// authentication: keys are scoped to the account, so tenants never see each other's responses.
/// </summary>
internal sealed class IdempotencyMiddleware(IDbContextFactory<WebhooksDbContext> dbFactory, TimeProvider time, SecretProtector protector) : IMiddleware
{
    private const int MaxKeyLength = 255;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var key = context.Request.Headers[IdempotencyExtensions.HeaderName].ToString();
        if (key.Length == 0 || !HttpMethods.IsPost(context.Request.Method) || context.GetEndpoint()?.Metadata.GetMetadata<IdempotentMetadata>() is null)
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

        var existing = await db.IdempotencyRecords.AsNoTracking().FirstOrDefaultAsync(r => r.Scope == scope && r.Key == key, ct);
        if (existing is not null)
        {
            await ReplayAsync(context, existing, hash, protector);
            return;
        }

        var record = new IdempotencyRecord { Id = Ids.New(time), Scope = scope, Key = key, RequestHash = hash, CreatedAt = time.GetUtcNow() };
        db.IdempotencyRecords.Add(record);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // A concurrent request with the same key inserted first.
            db.ChangeTracker.Clear();
            existing = await db.IdempotencyRecords.AsNoTracking().FirstAsync(r => r.Scope == scope && r.Key == key, ct);
            await ReplayAsync(context, existing, hash, protector);
            return;
        }

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
            // Server errors and auth failures are not the answer to this request: forget the key so a retry runs it.
            if (!completed || status >= 500 || status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden or StatusCodes.Status429TooManyRequests)
            {
                db.IdempotencyRecords.Remove(record);
            }
            else
            {
                record.StatusCode = status;
                record.ContentType = context.Response.ContentType;
                record.Location = context.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null;
                // Encrypted: the first answer to a creating POST can be the only showing of a new
                // API key or signing secret, which must never sit in the database readable.
                record.Body = protector.Protect(buffer.ToArray());
            }

            // The outcome is stored even when the client went away: that is when a retry comes.
            await db.SaveChangesAsync(CancellationToken.None);
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(originalBody, ct);
    }

    private static async Task ReplayAsync(HttpContext context, IdempotencyRecord record, string hash, SecretProtector protector)
    {
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(record.RequestHash), Encoding.ASCII.GetBytes(hash)))
        {
            await Problems.Write(context, Problems.Problem(StatusCodes.Status422UnprocessableEntity, Problems.IdempotencyMismatchType,
                "Idempotency-Key reused with a different request.",
                "This Idempotency-Key was first used with another method, path or body. Use a new key for a new request."));
            return;
        }

        if (record.StatusCode == 0)
        {
            await Problems.Write(context, Problems.Problem(StatusCodes.Status409Conflict, Problems.IdempotencyInProgressType,
                "A request with this Idempotency-Key is still running.", "Retry after the first request has finished."));
            return;
        }

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
