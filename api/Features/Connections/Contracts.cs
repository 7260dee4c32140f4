using System.Text.Json.Serialization;

namespace WebhooksApi.Features.Connections;

internal enum WebhookMethod
{
    [JsonStringEnumMemberName("GET")] Get,
    [JsonStringEnumMemberName("POST")] Post,
    [JsonStringEnumMemberName("PUT")] Put,
    [JsonStringEnumMemberName("PATCH")] Patch,
    [JsonStringEnumMemberName("DELETE")] Delete,
}

internal enum BodyFormat
{
    Json,
    Xml,
    Text,
}

internal enum ConnectionStatus
{
    Pending,
    Active,
    Error,
    Disabled,
    Deleted,
}

internal enum RetryKind
{
    Exponential,
    Window,
    Ordered,
}

/// <summary>
/// How failed requests are retried. Every parameter is optional and defaults per kind:
/// exponential (10 retries, the last about an hour after the first attempt, jittered), window
/// (backoff until `windowHours` have passed), ordered (one delivery at a time, 1, 2, 4 ... minutes, capped at an hour).
/// </summary>
internal sealed record RetryPolicyIn(
    RetryKind Kind = RetryKind.Exponential,
    int? MaxAttempts = null,
    int? InitialDelaySeconds = null,
    double? Factor = null,
    int? MaxDelaySeconds = null,
    int? WindowHours = null);

/// <summary>A new connection: a webhook destination.</summary>
internal sealed record ConnectionIn(
    string? Title = null,
    string? Url = null,
    WebhookMethod? Method = null,
    Dictionary<string, string>? Headers = null,
    string? AuthConnectorId = null,
    BodyFormat? BodyFormat = null,
    string? BodyTemplate = null,
    bool? ParamsInHeaders = null,
    int? TimeoutSeconds = null,
    int? MaxConcurrency = null,
    int? RateLimitPerSecond = null,
    RetryPolicyIn? RetryPolicy = null,
    bool? ExpectJsonResponse = null,
    string? FromTemplateId = null);

/// <summary>
/// Changes to a connection (JSON merge patch): absent fields stay, `null` clears an optional
/// field. Changing url, method, headers, auth connector, body format or template, or
/// paramsInHeaders returns the connection to `pending` until it is tested and activated again.
/// </summary>
internal sealed record ConnectionPatch(
    string? Title = null,
    string? Url = null,
    WebhookMethod? Method = null,
    Dictionary<string, string>? Headers = null,
    string? AuthConnectorId = null,
    BodyFormat? BodyFormat = null,
    string? BodyTemplate = null,
    bool? ParamsInHeaders = null,
    int? TimeoutSeconds = null,
    int? MaxConcurrency = null,
    int? RateLimitPerSecond = null,
    RetryPolicyIn? RetryPolicy = null,
    bool? ExpectJsonResponse = null);

/// <summary>A connection as stored. `signingSecret` is present only in the response that created it.</summary>
internal sealed record ConnectionOut(
    string Id,
    string Title,
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
    bool ExpectJsonResponse,
    ConnectionStatus Status,
    string? StatusReason,
    DateTimeOffset StatusChangedAt,
    bool TestedSinceLastChange,
    DateTimeOffset? LastTestedAt,
    string? LastTestOutcome,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? DeletedAt,
    string? SigningSecret);

/// <summary>A new signing secret. The previous one keeps signing (a second signature) until `previousSecretExpiresAt`.</summary>
internal sealed record SigningSecretOut(string SigningSecret, DateTimeOffset? PreviousSecretExpiresAt);
