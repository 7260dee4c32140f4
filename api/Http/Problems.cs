using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace WebhooksApi.Http;

/// <summary>
/// RFC 9457 problem details with stable `type` URIs: clients branch on `type`, people read `detail`.
/// </summary>
internal static class Problems
{
    private const string TypePrefix = "urn:webhooks-api:problem:";

    public const string ValidationType = TypePrefix + "validation";
    public const string MalformedRequestType = TypePrefix + "malformed-request";
    public const string UnauthorizedType = TypePrefix + "unauthorized";
    public const string ForbiddenType = TypePrefix + "forbidden";
    public const string NotFoundType = TypePrefix + "not-found";
    public const string ConflictType = TypePrefix + "conflict";
    public const string IdempotencyMismatchType = TypePrefix + "idempotency-key-reused";
    public const string IdempotencyInProgressType = TypePrefix + "idempotency-key-in-progress";
    public const string PayloadTooLargeType = TypePrefix + "payload-too-large";
    public const string UnsupportedMediaTypeType = TypePrefix + "unsupported-media-type";
    public const string MethodNotAllowedType = TypePrefix + "method-not-allowed";
    public const string UnavailableType = TypePrefix + "unavailable";
    public const string TooManyFailedAuthType = TypePrefix + "too-many-failed-authentications";
    public const string InternalType = TypePrefix + "internal";

    public static ProblemHttpResult Validation(IDictionary<string, string[]> errors, string? detail = null) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Type = ValidationType,
            Title = "The request is not valid.",
            Detail = detail ?? "See 'errors' for the fields at fault.",
        });

    public static ProblemHttpResult Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] }, message);

    public static ProblemHttpResult NotFound(string detail) => Problem(StatusCodes.Status404NotFound, NotFoundType, "Not found.", detail);

    public static ProblemHttpResult Conflict(string detail) => Problem(StatusCodes.Status409Conflict, ConflictType, "Conflict with the resource's state.", detail);

    public static ProblemHttpResult Unauthorized(string detail) => Problem(StatusCodes.Status401Unauthorized, UnauthorizedType, "Authentication required.", detail);

    public static ProblemHttpResult Forbidden(string detail) => Problem(StatusCodes.Status403Forbidden, ForbiddenType, "Not allowed.", detail);

    /// <summary>409: another request holds this Idempotency-Key and has not answered yet.</summary>
    public static ProblemHttpResult IdempotencyInProgress(string detail) =>
        Problem(StatusCodes.Status409Conflict, IdempotencyInProgressType, "A request with this Idempotency-Key is still running.", detail);

    public static ProblemHttpResult Problem(int status, string type, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Type = type, Title = title, Detail = detail });

    /// <summary>For code outside endpoints (auth handlers, middleware) that writes the response itself.</summary>
    public static Task Write(HttpContext context, ProblemHttpResult problem) => problem.ExecuteAsync(context);

    /// <summary>Adds the trace id so a user's report can be found in the logs.</summary>
    public static void Customize(ProblemDetailsContext context)
    {
        var traceId = Activity.Current?.Id ?? context.HttpContext.TraceIdentifier;
        context.ProblemDetails.Extensions["traceId"] = traceId;
        context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
        context.ProblemDetails.Type ??= context.ProblemDetails.Status switch
        {
            StatusCodes.Status400BadRequest => MalformedRequestType,
            StatusCodes.Status401Unauthorized => UnauthorizedType,
            StatusCodes.Status403Forbidden => ForbiddenType,
            StatusCodes.Status404NotFound => NotFoundType,
            StatusCodes.Status405MethodNotAllowed => MethodNotAllowedType,
            StatusCodes.Status413PayloadTooLarge => PayloadTooLargeType,
            StatusCodes.Status415UnsupportedMediaType => UnsupportedMediaTypeType,
            StatusCodes.Status503ServiceUnavailable => UnavailableType,
            >= 500 => InternalType,
            _ => null,
        };
    }
}
