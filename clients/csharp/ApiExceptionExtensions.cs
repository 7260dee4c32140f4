using System.Text.Json;

namespace WebhooksApi.Client;

/// <summary>Reading the API's RFC 9457 problem details from any <see cref="ApiException"/>.</summary>
public static class ApiExceptionExtensions
{
    /// <summary>
    /// The problem the API answered with. For the statuses the document declares, the generated
    /// client already threw <see cref="ApiException{TResult}"/> of <see cref="ProblemDetails"/> and
    /// this is its <c>Result</c>; for the others (a reused Idempotency-Key's 422, 413, 415, 5xx)
    /// it is read from the body when that is <c>application/problem+json</c>. Null otherwise.
    /// </summary>
    public static ProblemDetails? GetProblem(this ApiException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is ApiException<ProblemDetails> typed)
        {
            return typed.Result;
        }

        if (string.IsNullOrEmpty(exception.Response) || !IsProblemJson(exception.Headers))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<ProblemDetails>(exception.Response, WebhooksApiJson.Options);
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
