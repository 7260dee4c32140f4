using System.Text.Json;
using WebhooksApi.Features.Activities;

namespace WebhooksApi.Features.ActivityWebhook;

/// <summary>Where the account's activity events go. Saving sends a verifying GET to the URL first.</summary>
internal sealed record ActivityWebhookIn(
    string Url,
    string? AuthConnectorId = null,
    IReadOnlyList<ActivityStatusKind>? EventTypes = null,
    int? BatchSize = null,
    int? MaxBatchAgeSeconds = null,
    bool? Enabled = null);

/// <summary>The activity webhook. `signingSecret` is present only in the response that created it.</summary>
internal sealed record ActivityWebhookOut(
    string Id,
    string Url,
    string? AuthConnectorId,
    IReadOnlyList<ActivityStatusKind> EventTypes,
    int BatchSize,
    int MaxBatchAgeSeconds,
    bool Enabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? SigningSecret);

internal static class ActivityWebhookMapping
{
    public static ActivityWebhookOut ToOut(Persistence.ActivityWebhook hook, string? secret = null) => new(
        hook.Id.ToString(),
        hook.Url,
        hook.AuthConnectorId?.ToString(),
        [.. ActivityWebhookRules.EventTypes(hook).Select(Parse)],
        hook.BatchSize,
        hook.MaxBatchAgeSeconds,
        hook.Enabled,
        hook.CreatedAt,
        hook.UpdatedAt,
        secret);

    private static ActivityStatusKind Parse(string name) =>
        Enum.GetValues<ActivityStatusKind>().First(k => FeedStatusNames.Name(k) == name);

    public static string Write(IReadOnlyList<ActivityStatusKind> types) => JsonSerializer.Serialize(types.Distinct().Select(FeedStatusNames.Name).ToList());
}
