using System.Text.Json;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Logs;

/// <summary>
/// One request sent (a delivery attempt, or a test send with `test` true) as a list shows it:
/// who it was for and how it went, without headers or bodies (`GET /v1/logs/{id}` has those).
/// `attempt` counts from 1 within the delivery's current series (a retried delivery starts again at 1).
/// </summary>
internal sealed record LogEntryOut(
    string Id,
    DateTimeOffset Time,
    string? DeliveryId,
    string ConnectionId,
    string? WorkflowWebhookId,
    string? ContactId,
    string? Email,
    string? Phone,
    string? Identifier,
    int Attempt,
    bool Test,
    string Method,
    string Url,
    int? StatusCode,
    int DurationMs,
    string Outcome,
    string? Error);

/// <summary>The request as sent: credentials and secret query parameters are masked (`****`).</summary>
internal sealed record LogRequestOut(string Method, string Url, IReadOnlyDictionary<string, string> Headers, string? Body);

/// <summary>The answer: its headers and the first 64 KiB of its body.</summary>
internal sealed record LogResponseOut(int? StatusCode, IReadOnlyDictionary<string, string> Headers, string? Body);

/// <summary>One logged request with the whole exchange. `response` is null when no answer came (timeout, refused, template error).</summary>
internal sealed record LogEntryDetailOut(
    string Id,
    DateTimeOffset Time,
    string? DeliveryId,
    string ConnectionId,
    string? WorkflowWebhookId,
    string? ContactId,
    string? Email,
    string? Phone,
    string? Identifier,
    int Attempt,
    bool Test,
    string Method,
    string Url,
    int? StatusCode,
    int DurationMs,
    string Outcome,
    string? Error,
    LogRequestOut Request,
    LogResponseOut? Response);

internal static class LogMapping
{
    public static LogEntryDetailOut ToDetailOut(Attempt a) => new(
        a.Id.ToString(),
        a.CreatedAt,
        a.DeliveryId?.ToString(),
        a.ConnectionId.ToString(),
        a.WorkflowWebhookId?.ToString(),
        a.ContactId,
        a.Email,
        a.Phone,
        a.Identifier,
        a.AttemptNumber,
        a.IsTest,
        a.RequestMethod,
        a.RequestUrl,
        a.StatusCode,
        a.DurationMs,
        a.Outcome,
        a.Error,
        new LogRequestOut(a.RequestMethod, a.RequestUrl, Headers(a.RequestHeadersJson), a.RequestBody),
        a.ResponseHeadersJson is null && a.StatusCode is null ? null : new LogResponseOut(a.StatusCode, Headers(a.ResponseHeadersJson), a.ResponseBody));

    private static Dictionary<string, string> Headers(string? json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];
}
