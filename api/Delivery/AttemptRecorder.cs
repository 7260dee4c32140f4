using System.Text.Json;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>Who a request was about, for the log's filters.</summary>
internal sealed record AttemptSubject(string? ContactId, string? Email, string? Phone, string? Identifier);

/// <summary>Builds the log row for one request: what was sent (masked) and what came back.</summary>
internal static class AttemptRecorder
{
    private const int MaxLoggedBodyChars = 64 * 1024;

    public static Attempt Build(
        Connection connection,
        MaskedRequest request,
        SendResult? result,
        string? templateError,
        AttemptSubject subject,
        DateTimeOffset at,
        bool isTest,
        int attemptNumber,
        Guid? deliveryId = null,
        Guid? workflowWebhookId = null) => new()
    {
        Id = Ids.New(at),
        AccountId = connection.AccountId,
        ConnectionId = connection.Id,
        DeliveryId = deliveryId,
        WorkflowWebhookId = workflowWebhookId,
        IsTest = isTest,
        AttemptNumber = attemptNumber,
        CreatedAt = at,
        ContactId = Cap(subject.ContactId, 200),
        Email = Cap(subject.Email?.ToLowerInvariant(), 320),
        Phone = Cap(subject.Phone, 50),
        Identifier = Cap(NormalizeIdentifier(subject), 320),
        RequestMethod = request.Method,
        RequestUrl = request.Url,
        RequestHeadersJson = JsonSerializer.Serialize(request.Headers),
        RequestBody = Cap(request.Body, MaxLoggedBodyChars),
        StatusCode = result?.StatusCode,
        ResponseHeadersJson = result?.ResponseHeaders is null ? null : JsonSerializer.Serialize(result.ResponseHeaders),
        ResponseBody = Cap(result?.ResponseBody, MaxLoggedBodyChars),
        DurationMs = result?.DurationMs ?? 0,
        Outcome = templateError is not null ? Outcomes.TemplateError : result!.Outcome,
        Error = Cap(templateError ?? result?.Error, 2000),
    };

    /// <summary>
    /// Emails are matched case-insensitively by storing them lower-cased; the identifier is often
    /// the email, so it gets the same treatment and the log's exact-match filter finds it.
    /// </summary>
    private static string? NormalizeIdentifier(AttemptSubject subject) =>
        subject.Email is { } email && string.Equals(subject.Identifier, email, StringComparison.OrdinalIgnoreCase)
            ? email.ToLowerInvariant()
            : subject.Identifier;

    private static string? Cap(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
