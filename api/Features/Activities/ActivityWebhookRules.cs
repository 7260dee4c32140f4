using System.Text.Json;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Activities;

internal static class ActivityWebhookRules
{
    /// <summary>The statuses the account wants sent; empty means all.</summary>
    public static HashSet<string> EventTypes(Persistence.ActivityWebhook hook) =>
        JsonSerializer.Deserialize<HashSet<string>>(hook.EventTypesJson) ?? [];
}
