using System.Text.Json;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections;

/// <summary>Status transitions and the entity/wire mapping of connections.</summary>
internal static class ConnectionRules
{
    public const int DefaultTimeoutSeconds = 10;
    public const int MaxTimeoutSeconds = 30;
    public const int DefaultMaxConcurrency = 10;
    public const int MaxMaxConcurrency = 100;

    private static readonly JsonSerializerOptions StoreJson = CreateStoreJson();

    /// <summary>
    /// What is sent changed, so a successful test of the old shape no longer vouches for it: an
    /// active (or failing) connection goes back to pending. A disabled one stays disabled.
    /// </summary>
    public static void ShapeChanged(Connection connection, DateTimeOffset now, string reason)
    {
        connection.ShapeVersion++;
        connection.UpdatedAt = now;
        if (connection.Status is ConnectionStatuses.Active or ConnectionStatuses.Error)
        {
            SetStatus(connection, ConnectionStatuses.Pending, reason, now);
        }
    }

    public static void SetStatus(Connection connection, string status, string? reason, DateTimeOffset now)
    {
        connection.Status = status;
        connection.StatusReason = reason;
        connection.StatusChangedAt = now;
    }

    /// <summary>
    /// Keeps deliveries in step with their connection: nothing waits as `pending` for a connection
    /// that may not be sent to (it is `held` instead), and held deliveries resume, in order, when
    /// it is active again. Call it once the status change has committed (see DeliveryStore.SettleAsync).
    /// </summary>
    public static async Task MoveDeliveriesAsync(WebhooksDbContext db, Connection connection, string previousStatus, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (connection.Status == previousStatus)
        {
            return;
        }

        if (connection.Status == ConnectionStatuses.Active || previousStatus == ConnectionStatuses.Active)
        {
            await Delivery.DeliveryStore.SettleAsync(db, connection.Id, connection.Status == ConnectionStatuses.Active, now, cancellationToken);
        }
    }

    public static bool TestedSinceLastChange(Connection connection) => connection.TestedShapeVersion == connection.ShapeVersion;

    public static ConnectionOut ToOut(Connection c, string? signingSecret = null) => new(
        c.Id.ToString(),
        c.Title,
        c.Url,
        ParseMethod(c.Method),
        ReadHeaders(c.HeadersJson),
        c.AuthConnectorId?.ToString(),
        Enum.Parse<BodyFormat>(c.BodyFormat, ignoreCase: true),
        c.BodyTemplate,
        c.ParamsInHeaders,
        c.TimeoutSeconds,
        c.MaxConcurrency,
        c.RateLimitPerSecond,
        ReadRetryPolicy(c.RetryPolicyJson),
        c.ExpectJsonResponse,
        Enum.Parse<ConnectionStatus>(c.Status, ignoreCase: true),
        c.StatusReason,
        c.StatusChangedAt,
        TestedSinceLastChange(c),
        c.LastTestedAt,
        c.LastTestOutcome,
        c.CreatedAt,
        c.UpdatedAt,
        c.DeletedAt,
        signingSecret);

    public static string MethodName(WebhookMethod method) => method.ToString().ToUpperInvariant();

    public static WebhookMethod ParseMethod(string stored) => Enum.Parse<WebhookMethod>(stored, ignoreCase: true);

    public static string FormatName(BodyFormat format) => format.ToString().ToLowerInvariant();

    public static IReadOnlyDictionary<string, string> ReadHeaders(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json, StoreJson) ?? [];

    public static string WriteHeaders(IReadOnlyDictionary<string, string> headers) => JsonSerializer.Serialize(headers, StoreJson);

    public static RetryPolicyIn ReadRetryPolicy(string json) => JsonSerializer.Deserialize<RetryPolicyIn>(json, StoreJson) ?? new RetryPolicyIn();

    public static string WriteRetryPolicy(RetryPolicyIn policy) => JsonSerializer.Serialize(policy, StoreJson);

    /// <summary>A new signing secret, encrypted for storage.</summary>
    public static (string Secret, string Protected) NewSigningSecret(SecretProtector protector)
    {
        var secret = WebhookSigner.GenerateSecret();
        return (secret, protector.Protect(secret));
    }

    private static JsonSerializerOptions CreateStoreJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        return options;
    }
}
