using System.Text.Json;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>Who a request was about, for the log's filters.</summary>
internal sealed record AttemptSubject(string? ContactId, string? Email, string? Phone, string? Identifier);

/// <summary>Builds the log row for one request: what was sent (masked) and what came back.</summary>
internal static class AttemptRecorder
{
    private const int MaxLoggedBodyChars = 64 * 1024;

    private static readonly RowsStatement Insert = RowsStatement.Insert(
        "attempts",
        ("id", SetColumn.Uuid), ("account_id", SetColumn.Uuid), ("connection_id", SetColumn.Uuid), ("delivery_id", SetColumn.Uuid),
        ("workflow_webhook_id", SetColumn.Uuid), ("is_test", SetColumn.Boolean), ("attempt_number", SetColumn.Integer), ("created_at", SetColumn.Timestamp),
        ("contact_id", SetColumn.Text), ("email", SetColumn.Text), ("phone", SetColumn.Text), ("identifier", SetColumn.Text),
        ("request_method", SetColumn.Text), ("request_url", SetColumn.Text), ("request_headers_json", SetColumn.Text), ("request_body", SetColumn.Text),
        ("status_code", SetColumn.Integer), ("response_headers_json", SetColumn.Text), ("response_body", SetColumn.Text), ("duration_ms", SetColumn.Integer),
        ("outcome", SetColumn.Text), ("error", SetColumn.Text));

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

    /// <summary>Inserts log rows in the caller's transaction without change tracking (the dispatcher's result writer).</summary>
    public static Task<int> InsertAsync(WebhooksDbContext db, IReadOnlyCollection<Attempt> attempts, CancellationToken cancellationToken) =>
        RawStatements.ExecuteAsync(
            db,
            Insert,
            attempts.Select(a => new object?[]
            {
                a.Id, a.AccountId, a.ConnectionId, a.DeliveryId, a.WorkflowWebhookId, a.IsTest, a.AttemptNumber, a.CreatedAt, a.ContactId, a.Email, a.Phone, a.Identifier,
                a.RequestMethod, a.RequestUrl, a.RequestHeadersJson, a.RequestBody, a.StatusCode, a.ResponseHeadersJson, a.ResponseBody, a.DurationMs, a.Outcome, a.Error,
            }).ToList(),
            cancellationToken);

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
