using System.Text.Json;
using System.Text.Json.Nodes;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Deliveries;

internal enum DeliveryStatus
{
    Pending,
    Delivering,
    Succeeded,
    Failed,
    Held,
    Skipped,
}

/// <summary>The last answer. `json` is the parsed body when the step captures responses and the body is JSON.</summary>
internal sealed record DeliveryResponseOut(int? StatusCode, string? Outcome, string? Error, string? Body, JsonNode? Json);

/// <summary>
/// One message to one connection. `webhookId` is the `webhook-id` header of every attempt, so
/// receivers can de-duplicate retries.
/// </summary>
internal sealed record DeliveryOut(
    string Id,
    string WebhookId,
    DeliveryStatus Status,
    string ConnectionId,
    string? WorkflowWebhookId,
    string? ContactId,
    string? Email,
    string? Phone,
    string? Identifier,
    int Attempts,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    DeliveryResponseOut? LastResponse,
    string? FailureReason,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt);

internal static class DeliveryMapping
{
    public static DeliveryOut ToOut(WebhookDelivery d) => new(
        d.Id.ToString(),
        WebhookSigner.NewMessageId(d.Id),
        Enum.Parse<DeliveryStatus>(d.Status, ignoreCase: true),
        d.ConnectionId.ToString(),
        d.WorkflowWebhookId?.ToString(),
        d.ContactId,
        d.Email,
        d.Phone,
        d.Identifier,
        d.AttemptCount,
        d.Status is DeliveryStatuses.Pending or DeliveryStatuses.Held ? d.NextAttemptAt : null,
        d.LastAttemptAt,
        d.LastOutcome is null ? null : new DeliveryResponseOut(d.LastStatusCode, d.LastOutcome, d.LastError, d.ResponseBody, ParseJson(d.ResponseBody)),
        d.FailureReason,
        d.CreatedAt,
        d.UpdatedAt,
        d.CompletedAt);

    private static JsonNode? ParseJson(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
