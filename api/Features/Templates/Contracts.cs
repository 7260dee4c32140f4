using System.Text.Json;
using WebhooksApi.Features.Connections;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Templates;

/// <summary>Save the configuration of connection `connectionId` under `name`.</summary>
internal sealed record TemplateIn(string Name, string ConnectionId);

/// <summary>A saved configuration: everything a connection has but its signing secret and status.</summary>
internal sealed record TemplateOut(string Id, string Name, TemplateSettingsOut Settings, DateTimeOffset CreatedAt);

internal sealed record TemplateSettingsOut(
    string Url,
    WebhookMethod Method,
    IReadOnlyDictionary<string, string> Headers,
    string? AuthConnectorId,
    BodyFormat BodyFormat,
    string? BodyTemplate,
    bool ParamsInHeaders,
    int TimeoutSeconds,
    int MaxConcurrency,
    int? RateLimitPerSecond,
    RetryPolicyIn RetryPolicy,
    bool ExpectJsonResponse);

internal static class TemplateMapping
{
    private static readonly JsonSerializerOptions StoreJson = CreateStoreJson();

    public static string Serialize(ConnectionDraft draft) => JsonSerializer.Serialize(Settings(draft), StoreJson);

    public static ConnectionDraft ToDraft(WebhookTemplate template)
    {
        var s = JsonSerializer.Deserialize<TemplateSettingsOut>(template.SettingsJson, StoreJson)!;
        return new ConnectionDraft
        {
            Url = s.Url,
            Method = s.Method,
            Headers = new Dictionary<string, string>(s.Headers, StringComparer.OrdinalIgnoreCase),
            AuthConnectorId = s.AuthConnectorId,
            BodyFormat = s.BodyFormat,
            BodyTemplate = s.BodyTemplate,
            ParamsInHeaders = s.ParamsInHeaders,
            TimeoutSeconds = s.TimeoutSeconds,
            MaxConcurrency = s.MaxConcurrency,
            RateLimitPerSecond = s.RateLimitPerSecond,
            RetryPolicy = s.RetryPolicy,
            ExpectJsonResponse = s.ExpectJsonResponse,
        };
    }

    public static TemplateOut ToOut(WebhookTemplate template) =>
        new(template.Id.ToString(), template.Name, Settings(ToDraft(template)), template.CreatedAt);

    private static TemplateSettingsOut Settings(ConnectionDraft d) => new(
        d.Url, d.Method, d.Headers, d.AuthConnectorId, d.BodyFormat, d.BodyTemplate, d.ParamsInHeaders,
        d.TimeoutSeconds, d.MaxConcurrency, d.RateLimitPerSecond, d.RetryPolicy, d.ExpectJsonResponse);

    private static JsonSerializerOptions CreateStoreJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        return options;
    }
}
