using Microsoft.AspNetCore.Http.HttpResults;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Placeholders;

/// <summary>A merge tag a template can use, for a frontend's "insert placeholder" menu.</summary>
internal sealed record PlaceholderOut(string Tag, string Group, string Description, string? Example);

internal sealed record PlaceholdersOut(IReadOnlyList<PlaceholderOut> Placeholders, IReadOnlyList<PlaceholderOut> Helpers);

internal sealed class Endpoint : IEndpoint
{
    private static readonly PlaceholdersOut Catalogue = new(
        [
            new("{{contact.id}}", "contact", "The contact's id in the calling platform.", "54321"),
            new("{{contact.email}}", "contact", "The contact's email address.", "john.doe@example.org"),
            new("{{contact.phone}}", "contact", "The contact's phone number (E.164 when known).", "+15555550123"),
            new("{{contact.firstName}}", "contact", "First name.", "John"),
            new("{{contact.lastName}}", "contact", "Last name.", "Doe"),
            new("{{contact.<field>}}", "contact", "Any other contact field the platform sends (custom fields too). Names match case-insensitively.", "{{contact.city}}"),
            new("{{event.<param>}}", "event", "A parameter of the event that triggered the workflow; nested values with dots.", "{{event.orderId}}"),
            new("{{variables.<name>}}", "variables", "A variable passed with the execution.", "{{variables.promo}}"),
            new("{{account.id}}", "account", "The account's id.", null),
            new("{{account.name}}", "account", "The account's name.", null),
            new("{{webhook.id}}", "webhook", "The message id, the same on every retry (also the webhook-id header).", "msg_2b5v..."),
            new("{{webhook.timestamp}}", "webhook", "When this attempt was sent, ISO 8601 UTC.", "2026-11-23T10:00:00Z"),
        ],
        [
            new("{{default contact.firstName \"there\"}}", "helper", "The value, or the fallback when it is missing or empty.", "there"),
            new("{{json event.items}}", "helper", "The value as JSON (objects, arrays, strings with quotes).", "[{\"sku\":\"A1\"}]"),
            new("{{urlencode contact.email}}", "helper", "Percent-encodes the value (URLs already encode every value).", "john.doe%40example.org"),
            new("{{xml contact.lastName}}", "helper", "XML-escapes the value (XML bodies already escape every value).", "O&apos;Neil"),
            new("{{formatDate event.date \"yyyy-MM-dd\"}}", "helper", "Formats an ISO 8601 date with a .NET format string.", "2026-11-23"),
        ]);

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/v1/placeholders", () => TypedResults.Ok(Catalogue))
            .WithName("Placeholders_List")
            .WithTags("Placeholders")
            .WithSummary("List the merge tags and helpers templates can use")
            .WithDescription("Values are escaped for where they land: JSON-escaped in JSON bodies, XML-escaped in XML bodies, percent-encoded in URLs, and stripped of line breaks in headers.")
            .RequireScopes(Scopes.ConnectionsManage, Scopes.LogsRead)
            .Produces<PlaceholdersOut>()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
}
