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
        Identifier = Cap(subject.Identifier, 320),
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

    private static string? Cap(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
