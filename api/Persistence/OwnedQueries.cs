using Microsoft.EntityFrameworkCore;

namespace WebhooksApi.Persistence;

/// <summary>
/// Lookups by route id that are always scoped to the caller's account: another account's
/// resource and a malformed id are both simply not found (404, never 403).
/// </summary>
internal static class OwnedQueries
{
    public static Task<AuthConnector?> FindOwnedAsync(this IQueryable<AuthConnector> set, Guid accountId, string id, CancellationToken cancellationToken) =>
        Guid.TryParse(id, out var key) ? set.FirstOrDefaultAsync(c => c.Id == key && c.AccountId == accountId, cancellationToken) : Task.FromResult<AuthConnector?>(null);

    public static Task<Connection?> FindOwnedAsync(this IQueryable<Connection> set, Guid accountId, string id, CancellationToken cancellationToken) =>
        Guid.TryParse(id, out var key) ? set.FirstOrDefaultAsync(c => c.Id == key && c.AccountId == accountId, cancellationToken) : Task.FromResult<Connection?>(null);

    public static Task<WorkflowWebhook?> FindOwnedAsync(this IQueryable<WorkflowWebhook> set, Guid accountId, string id, CancellationToken cancellationToken) =>
        Guid.TryParse(id, out var key) ? set.FirstOrDefaultAsync(w => w.Id == key && w.AccountId == accountId, cancellationToken) : Task.FromResult<WorkflowWebhook?>(null);

    public static Task<WebhookDelivery?> FindOwnedAsync(this IQueryable<WebhookDelivery> set, Guid accountId, string id, CancellationToken cancellationToken) =>
        Guid.TryParse(id, out var key) ? set.FirstOrDefaultAsync(d => d.Id == key && d.AccountId == accountId, cancellationToken) : Task.FromResult<WebhookDelivery?>(null);
}
