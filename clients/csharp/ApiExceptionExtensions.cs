using System.Text.Json;

namespace WebhooksApi.Client;

/// <summary>Reading the API's RFC 9457 problem details from any <see cref="ApiException"/>.</summary>
public static class ApiExceptionExtensions
{
    /// <summary>
    /// The problem the API answered with, whatever the status: the typed result of an
    /// <see cref="ApiException{TResult}"/> of <see cref="ProblemDetails"/>, or else the body read
    /// as one when it is <c>application/problem+json</c>: a validation problem (typed
    /// <see cref="HttpValidationProblemDetails"/>, whose <c>errors</c> it keeps) or a status the
    /// document does not list (a reused Idempotency-Key's 422 on most operations, 413, 5xx).
    /// Null when the response was not a problem.
    /// </summary>
    public static ProblemDetails? GetProblem(this ApiException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is ApiException<ProblemDetails> typed)
        {
            return typed.Result;
        }

        if (!IsProblemJson(exception.Headers))
        {
            return null;
        }

        try
        {
            // A typed exception has parsed the body already (and kept no text unless the client's
            // ReadResponseAsString is set): its Result, written back to JSON, is the problem.
            var typedResult = exception.GetType().GetProperty(nameof(ApiException<ProblemDetails>.Result))?.GetValue(exception);
            if (typedResult is not null)
            {
                return JsonSerializer.SerializeToElement(typedResult, typedResult.GetType(), WebhooksApiJson.Options).Deserialize<ProblemDetails>(WebhooksApiJson.Options);
            }

            return string.IsNullOrEmpty(exception.Response) ? null : JsonSerializer.Deserialize<ProblemDetails>(exception.Response, WebhooksApiJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool IsProblemJson(IReadOnlyDictionary<string, IEnumerable<string>> headers) =>
        headers.Any(h => string.Equals(h.Key, "Content-Type", StringComparison.OrdinalIgnoreCase)
            && h.Value.Any(v => v.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase)));
}
