using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace WebhooksApi.Features.Activities;

internal enum ActivityStatusKind
{
    [JsonStringEnumMemberName("DELIVERED")] Delivered,
    [JsonStringEnumMemberName("UNDELIVERED")] Undelivered,
    [JsonStringEnumMemberName("READ")] Read,
    [JsonStringEnumMemberName("CLICKED")] Clicked,
    [JsonStringEnumMemberName("UNSUBSCRIBED")] Unsubscribed,
    [JsonStringEnumMemberName("SPAM")] Spam,
    [JsonStringEnumMemberName("SUBSCRIPTION_CHANGED")] SubscriptionChanged,
}

internal enum FeedStatus
{
    Pending,
    Batched,
    Delivered,
    NotSent,
}

/// <summary>
/// A contact activity event. The body is validated against schemas/activity-event.schema.json
/// (https://webhooks-api.dev/schemas/activity-event.schema.json), which holds the conditional rules;
/// this type documents its main fields for clients.
/// </summary>
internal sealed record ActivityEventIn(
    ActivityStatusKind ActivityStatus,
    string ActivityDateTime,
    JsonNode? ContactId = null,
    string? Email = null,
    string? Sms = null,
    string? MediaType = null,
    string? BroadcastId = null,
    string? WorkflowId = null,
    string? WorkflowBlockId = null,
    string? SourceEventKey = null,
    string? SourceEventTypeKey = null,
    string? Iid = null,
    string? MessageId = null,
    string? MessageInstanceId = null,
    string? MessageTag = null,
    string? StatusDescription = null,
    bool? HardBounce = null,
    string? ViewMessageLink = null,
    string? ClickEventLink = null,
    JsonObject? StatusData = null);

internal sealed record IngestOut(int Accepted, int Duplicates);

/// <summary>An accepted event with its state in the account's feed.</summary>
internal sealed record ActivityOut(
    string Id,
    string ActivityStatus,
    DateTimeOffset ActivityDateTime,
    string? ContactId,
    string? Email,
    string? MediaType,
    string? Iid,
    JsonNode? Event,
    FeedStatus FeedStatus,
    string? BatchId,
    DateTimeOffset AcceptedAt);

internal static class FeedStatusNames
{
    public static FeedStatus Parse(string stored) => stored switch
    {
        Persistence.FeedStatuses.Pending => FeedStatus.Pending,
        Persistence.FeedStatuses.Batched => FeedStatus.Batched,
        Persistence.FeedStatuses.Delivered => FeedStatus.Delivered,
        _ => FeedStatus.NotSent,
    };

    public static string Name(ActivityStatusKind kind) => kind switch
    {
        ActivityStatusKind.SubscriptionChanged => "SUBSCRIPTION_CHANGED",
        _ => kind.ToString().ToUpperInvariant(),
    };
}
