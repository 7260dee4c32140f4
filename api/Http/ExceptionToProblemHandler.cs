using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace WebhooksApi.Http;

/// <summary>
/// Turns exceptions into problem details: bad input the framework found (malformed JSON, wrong
/// types, missing fields, unknown enum values, oversized bodies) becomes a 4xx that says what is
/// wrong and where; anything else is a 500 with a trace id and nothing of the exception.
/// </summary>
internal sealed partial class ExceptionToProblemHandler(IProblemDetailsService problems, ILogger<ExceptionToProblemHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } bad =>
                Plain(bad.StatusCode, Problems.PayloadTooLargeType, "The request body is too large.", bad.Message),
            BadHttpRequestException bad when FindJson(bad) is { } json => FromJson(json),
            BadHttpRequestException bad when BindFailure().Match(bad.Message) is { Success: true } m => BindProblem(m.Groups["name"].Value, m.Groups["value"].Value),
            BadHttpRequestException bad => Plain(bad.StatusCode,
                bad.StatusCode == StatusCodes.Status415UnsupportedMediaType ? Problems.UnsupportedMediaTypeType : Problems.MalformedRequestType,
                "The request could not be read.", bad.Message),
            JsonException json => FromJson(json),
            Delivery.AcceptsClosedException => Plain(StatusCodes.Status503ServiceUnavailable, Problems.UnavailableType, "The service is unavailable.",
                "The service is shutting down, so nothing was stored. Retry after the time in Retry-After."),
            _ when IsDatabaseUnavailable(exception) => Plain(StatusCodes.Status503ServiceUnavailable, Problems.UnavailableType, "The service is unavailable.",
                "The database cannot be reached, so nothing was stored. Retry after the time in Retry-After."),
            _ when RaceLost(exception) is { } detail => Plain(StatusCodes.Status409Conflict, Problems.ConflictType, "Conflict with the resource's state.", detail),
            _ => Plain(StatusCodes.Status500InternalServerError, Problems.InternalType, "An unexpected error occurred.",
                "An unexpected error occurred. Quote the traceId when reporting it."),
        };

        if (problem.Status == StatusCodes.Status503ServiceUnavailable)
        {
            // Not a bug to chase: the database is down or restarting. The caller keeps the work and retries.
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
            logger.LogWarning("Database unavailable for {Method} {Path}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, exception.GetBaseException().Message);
        }
        else if (problem.Type == Problems.ConflictType)
        {
            // Only RaceLost answers a conflict here.
            logger.LogWarning("A concurrent request won for {Method} {Path}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, exception.GetBaseException().Message);
        }
        else if (problem.Status >= 500)
        {
            logger.LogError(exception, "Unhandled exception for {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
        }

        httpContext.Response.StatusCode = problem.Status ?? 500;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private const string RetryAfterSeconds = "5";

    /// <summary>
    /// The database is down, restarting or refusing connections (not a bad query): the request
    /// was not stored and can be retried as it is. Found anywhere in the exception chain, since
    /// EF Core wraps the provider's exception.
    /// </summary>
    internal static bool IsDatabaseUnavailable(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case Npgsql.PostgresException pg:
                    // 08: connection exception; 53: insufficient resources; 57P01-57P03: shutdown, crash recovery, cannot connect now.
                    if (pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal) || pg.SqlState.StartsWith("57P", StringComparison.Ordinal))
                    {
                        return true;
                    }

                    break;
                case Npgsql.NpgsqlException npgsql when npgsql.IsTransient:
                    return true;
                case Microsoft.Data.Sqlite.SqliteException sqlite when sqlite.SqliteErrorCode is 5 or 6:
                    // SQLITE_BUSY / SQLITE_LOCKED beyond the busy timeout: the writer is held up, nothing was written.
                    return true;
                case System.Net.Sockets.SocketException or TimeoutException:
                    return true;
            }
        }

        return false;
    }

    private const string ConcurrencyRace = "Another request changed or deleted this resource at the same time, so nothing was stored. Read it again, then retry if it still applies.";

    private const string ReferenceRace = "Another request added or removed a resource this one refers to (or that refers to it) at the same time, so nothing was stored. Read them again, then retry if it still applies.";

    private const string UniqueRace = "Another request stored the same unique value at the same time, so nothing was stored. Read it again, then retry if it still applies.";

    /// <summary>
    /// A write that lost a race with another request, as the database saw it; null for anything
    /// else. The endpoints check first (a deleted resource is a 404, one in use a 409), but
    /// between their check and their write another request can delete the row they loaded
    /// (EF's concurrency check: 0 rows affected), take the unique name, or add or remove a row
    /// the write refers to. Each was a 500; the transaction is rolled back, so nothing of the
    /// request was stored and reading again tells the caller where things stand.
    /// </summary>
    internal static string? RaceLost(Exception exception)
    {
        if (exception is Microsoft.EntityFrameworkCore.DbUpdateConcurrencyException)
        {
            return ConcurrencyRace;
        }

        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.ForeignKeyViolation }:
                    return ReferenceRace;
                case Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.UniqueViolation }:
                    return UniqueRace;
                case Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19 } sqlite:
                    // The extended code is not always set by the time EF wraps it (seen as 19 for a
                    // foreign key); SQLite's message names the constraint either way.
                    return sqlite.SqliteExtendedErrorCode == 787 || sqlite.Message.Contains("FOREIGN KEY constraint failed", StringComparison.Ordinal) ? ReferenceRace
                        : sqlite.SqliteExtendedErrorCode is 2067 or 1555 || sqlite.Message.Contains("UNIQUE constraint failed", StringComparison.Ordinal) ? UniqueRace
                        : null;
            }
        }

        return null;
    }

    private static ProblemDetails Plain(int status, string type, string title, string detail) =>
        new() { Status = status, Type = type, Title = title, Detail = detail };

    private static JsonException? FindJson(Exception exception)
    {
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                return json;
            }
        }

        return null;
    }

    /// <summary>
    /// Syntax errors are "malformed" with the line and position; a readable document with a
    /// wrong, missing or null field is a validation problem keyed by the field's JSON pointer.
    /// Our type names never reach the caller.
    /// </summary>
    internal static ProblemDetails FromJson(JsonException json)
    {
        var position = json.LineNumber is null ? string.Empty : $" (line {json.LineNumber + 1}, position {json.BytePositionInLine + 1})";
        var pointer = ToPointer(json.Path);
        var message = json.Message;

        if (message.Contains("missing required properties including:", StringComparison.Ordinal))
        {
            var names = QuotedNames().Matches(message[message.IndexOf("including:", StringComparison.Ordinal)..]).Select(m => m.Groups[1].Value).ToList();
            var errors = names.ToDictionary(n => $"{pointer.TrimEnd('/')}/{n}", n => new[] { $"{n} is required." });
            return Validation(errors, $"Missing required field(s): {string.Join(", ", names)}.");
        }

        if (message.Contains("doesn't allow null values", StringComparison.Ordinal) || message.Contains("doesn't allow setting null values", StringComparison.Ordinal))
        {
            // The reader's path already ends at the field; the message names the C# member instead.
            var at = pointer != "/" ? pointer : "/" + JsonNamingPolicy.CamelCase.ConvertName(QuotedNames().Match(message).Groups[1].Value);
            return Validation(new Dictionary<string, string[]> { [at] = ["Must not be null."] }, $"{at} must not be null.");
        }

        if (message.StartsWith(NulFreeStrings.Message, StringComparison.Ordinal))
        {
            // Raised once the object is read: the path ends at the object, the message names the field.
            var at = $"{pointer.TrimEnd('/')}/{QuotedNames().Match(message).Groups[1].Value}";
            return Validation(new Dictionary<string, string[]> { [at] = [NulFreeStrings.Message] }, $"{at}: {NulFreeStrings.Message}");
        }

        if (message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
        {
            const string reason = "has the wrong type or is not one of the allowed values";
            return Validation(new Dictionary<string, string[]> { [pointer] = [$"The value {reason}."] }, $"The value at {pointer}{position} {reason}.");
        }

        if (message.StartsWith("The JSON property", StringComparison.Ordinal) && message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var name = QuotedNames().Match(message).Groups[1].Value;
            var at = pointer.EndsWith("/" + name, StringComparison.Ordinal) ? pointer : $"{pointer.TrimEnd('/')}/{name}";
            return Validation(new Dictionary<string, string[]> { [at] = ["Unknown field."] }, $"Unknown field '{name}'{position}.");
        }

        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        var text = (cut > 0 ? message[..cut] : message).Trim().TrimEnd('.');
        return Plain(StatusCodes.Status400BadRequest, Problems.MalformedRequestType, "The request body is not valid JSON.", $"Invalid JSON{position}: {text}.");
    }

    /// <summary>A query or route value of the wrong type: named by the parameter, not our C# types.</summary>
    private static HttpValidationProblemDetails BindProblem(string name, string value)
    {
        var shown = value.Length > 100 ? value[..100] + "..." : value;
        return Validation(new Dictionary<string, string[]> { [name] = [$"'{shown}' is not a valid value for {name}."] }, $"'{shown}' is not a valid value for {name}.");
    }

    [GeneratedRegex(@"^Failed to bind parameter ""(?:[^""]* )?(?<name>[A-Za-z0-9_]+)"" from ""(?<value>.*)""\.?$", RegexOptions.Singleline)]
    private static partial Regex BindFailure();

    private static HttpValidationProblemDetails Validation(IDictionary<string, string[]> errors, string detail) =>
        new(errors) { Status = StatusCodes.Status400BadRequest, Type = Problems.ValidationType, Title = "The request is not valid.", Detail = detail };

    /// <summary>"$.items[3].name" -> "/items/3/name" (RFC 6901).</summary>
    internal static string ToPointer(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "/";
        }

        var pointer = PathSegments().Replace(path.TrimStart('$'), m =>
            "/" + (m.Groups["i"].Success ? m.Groups["i"].Value : (m.Groups["q"].Success ? m.Groups["q"].Value : m.Groups["n"].Value)).Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
        return pointer.Length == 0 ? "/" : pointer;
    }

    [GeneratedRegex(@"'([^']+)'")]
    private static partial Regex QuotedNames();

    [GeneratedRegex(@"\.(?<n>[^.\[]+)|\[(?<i>\d+)\]|\['(?<q>[^']*)'\]")]
    private static partial Regex PathSegments();
}
