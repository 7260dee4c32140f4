namespace WebhooksApi.Persistence;

// Entities never leave the service: endpoints map them to wire types (the *In/*Out records).

/// <summary>A row with a time-ordered id (see <see cref="Ids"/>): what keyset paging pages over.</summary>
internal interface IEntity
{
    Guid Id { get; }
}

/// <summary>A row whose UUIDv7 id carries its created_at's millisecond, so a time range is also an id range (see <see cref="IdBounds"/>).</summary>
internal interface ITimeOrderedEntity : IEntity
{
    DateTimeOffset CreatedAt { get; }
}

/// <summary>
/// A row about one contact, with its email (lower-cased) and identifier: its email, else its phone,
/// else its contact id (see <see cref="SubjectFilters"/>).
/// </summary>
internal interface ISubjectRow
{
    string? ContactId { get; }
    string? Email { get; }
    string? Identifier { get; }
}

internal sealed class Account : IEntity
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class ApiKey : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Name { get; set; }

    /// <summary>SHA-256 of the whole key, hex. The key itself is shown once and never stored.</summary>
    public required string KeyHash { get; set; }

    /// <summary>The first characters of the key, so a user can tell keys apart in a list.</summary>
    public required string Prefix { get; set; }

    /// <summary>Space-separated scopes, as in OAuth.</summary>
    public required string Scopes { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

internal sealed class IdempotencyRecord
{
    public Guid Id { get; set; }

    /// <summary>The account id, or "operator" for operator calls: keys never collide across tenants.</summary>
    public required string Scope { get; set; }

    public required string Key { get; set; }

    /// <summary>SHA-256 of method, path and body: the same key with another request is a 422.</summary>
    public required string RequestHash { get; set; }

    /// <summary>0 while the first request is still running.</summary>
    public int StatusCode { get; set; }

    public string? ContentType { get; set; }
    public string? Location { get; set; }
    public byte[]? Body { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

internal static class ConnectionStatuses
{
    public const string Pending = "pending";
    public const string Active = "active";
    public const string Error = "error";
    public const string Disabled = "disabled";
    public const string Deleted = "deleted";
}

/// <summary>A webhook destination: where, how, with what body, and whether it may be sent to.</summary>
internal sealed class Connection : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Title { get; set; }
    public required string Url { get; set; }
    public required string Method { get; set; }

    /// <summary>A JSON object of header name to value template.</summary>
    public required string HeadersJson { get; set; }

    public Guid? AuthConnectorId { get; set; }
    public required string BodyFormat { get; set; }
    public string? BodyTemplate { get; set; }
    public bool ParamsInHeaders { get; set; }
    public int TimeoutSeconds { get; set; }
    public int MaxConcurrency { get; set; }
    public int? RateLimitPerSecond { get; set; }

    /// <summary>The retry policy as given (kind and any overridden parameters), JSON.</summary>
    public required string RetryPolicyJson { get; set; }

    public bool ExpectJsonResponse { get; set; }
    public required string Status { get; set; }
    public string? StatusReason { get; set; }
    public DateTimeOffset StatusChangedAt { get; set; }

    /// <summary>Bumped by every edit that changes the requests sent; activation needs a successful test of this version.</summary>
    public int ShapeVersion { get; set; }

    public int? TestedShapeVersion { get; set; }
    public DateTimeOffset? LastTestedAt { get; set; }
    public string? LastTestOutcome { get; set; }

    /// <summary>The signing secret, encrypted with Data Protection.</summary>
    public required string SigningSecretProtected { get; set; }

    /// <summary>The secret before the last rotation, still signing until <see cref="PreviousSecretExpiresAt"/>.</summary>
    public string? PreviousSigningSecretProtected { get; set; }

    public DateTimeOffset? PreviousSecretExpiresAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? DeletedAt { get; set; }

    /// <summary>The status a deleted connection had, for the record.</summary>
    public string? StatusBeforeDelete { get; set; }

    /// <summary>When the current run of failed attempts began (null while the last attempt succeeded).</summary>
    public DateTimeOffset? FailingSince { get; set; }
}

/// <summary>Reusable credentials applied to the requests of the connections that reference them.</summary>
internal sealed class AuthConnector : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Name { get; set; }

    /// <summary>basic | bearer | api_key.</summary>
    public required string Type { get; set; }

    /// <summary>What may be shown: the username, the API key's parameter name and place. JSON.</summary>
    public required string PublicJson { get; set; }

    /// <summary>The secrets (password, token, key value), JSON encrypted with Data Protection.</summary>
    public required string SecretsProtected { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>One request sent (a delivery attempt or a test send) and what came back.</summary>
internal sealed class Attempt : ITimeOrderedEntity, ISubjectRow
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public Guid ConnectionId { get; set; }
    public Guid? DeliveryId { get; set; }
    public Guid? WorkflowWebhookId { get; set; }
    public bool IsTest { get; set; }
    public int AttemptNumber { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public string? ContactId { get; set; }
    public string? Email { get; set; }
    public string? Phone { get; set; }
    public string? Identifier { get; set; }
    public required string RequestMethod { get; set; }

    /// <summary>The URL sent, with secret query parameters masked.</summary>
    public required string RequestUrl { get; set; }

    /// <summary>Headers sent (JSON object), secrets masked.</summary>
    public required string RequestHeadersJson { get; set; }

    public string? RequestBody { get; set; }
    public int? StatusCode { get; set; }
    public string? ResponseHeadersJson { get; set; }
    public string? ResponseBody { get; set; }
    public int DurationMs { get; set; }
    public required string Outcome { get; set; }
    public string? Error { get; set; }
}

/// <summary>A saved connection configuration (all but its secret and status), to create connections from.</summary>
internal sealed class WebhookTemplate : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Name { get; set; }

    /// <summary>The connection's settings as a JSON object.</summary>
    public required string SettingsJson { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>The "call webhook" step of an automation workflow, bound to a connection.</summary>
internal sealed class WorkflowWebhook : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string Name { get; set; }
    public required string WorkflowId { get; set; }
    public required string StepId { get; set; }
    public Guid ConnectionId { get; set; }

    /// <summary>The contact fields to send (JSON array of names); empty sends them all.</summary>
    public required string FieldsJson { get; set; }

    /// <summary>Extra key/value pairs (JSON object); values may be merge tags.</summary>
    public required string ExtraJson { get; set; }

    public bool CaptureResponse { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

internal static class DeliveryStatuses
{
    public const string Pending = "pending";
    public const string Delivering = "delivering";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Held = "held";
    public const string Skipped = "skipped";
}

/// <summary>
/// One message to one connection, durable from the moment its execution was accepted. The row is
/// the queue: the dispatcher claims due pending rows, and their status is the truth for counts.
/// </summary>
internal sealed class WebhookDelivery : ITimeOrderedEntity, ISubjectRow
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public Guid ConnectionId { get; set; }
    public Guid? WorkflowWebhookId { get; set; }
    public required string Status { get; set; }

    /// <summary>True when the connection's policy is `ordered`: only the oldest unfinished delivery may be sent.</summary>
    public bool Ordered { get; set; }

    /// <summary>{contact, event, variables} as accepted (contact already narrowed to the step's fields).</summary>
    public required string PayloadJson { get; set; }

    public string? ContactId { get; set; }
    public string? Email { get; set; }
    public string? Phone { get; set; }
    public string? Identifier { get; set; }
    public int AttemptCount { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public DateTimeOffset? FirstAttemptAt { get; set; }
    public DateTimeOffset? LastAttemptAt { get; set; }

    /// <summary>Which claim holds the row while delivering; a result is written only under the same claim.</summary>
    public Guid? ClaimToken { get; set; }

    /// <summary>A delivering row whose lease passed (its node died) goes back to pending.</summary>
    public DateTimeOffset? LockedUntil { get; set; }

    public int? LastStatusCode { get; set; }
    public string? LastOutcome { get; set; }
    public string? LastError { get; set; }

    /// <summary>The last answer's body (capped), kept when the step captures responses.</summary>
    public string? ResponseBody { get; set; }

    public string? FailureReason { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>A copy of this (not yet written) row as a claim under <paramref name="token"/> writes it.</summary>
    public WebhookDelivery ClaimedCopy(Guid token, DateTimeOffset lockedUntil)
    {
        var copy = (WebhookDelivery)MemberwiseClone();
        copy.Status = DeliveryStatuses.Delivering;
        copy.ClaimToken = token;
        copy.LockedUntil = lockedUntil;
        return copy;
    }
}

internal static class FeedStatuses
{
    /// <summary>Waiting to go out in a batch.</summary>
    public const string Pending = "pending";

    /// <summary>In a batch that is being sent (or retried).</summary>
    public const string Batched = "batched";

    public const string Delivered = "delivered";

    /// <summary>Not sent: the account has no enabled activity webhook, or its filter leaves the type out.</summary>
    public const string NotSent = "not_sent";
}

/// <summary>A contact activity event (delivered, read, clicked...) reported by the platform.</summary>
internal sealed class ActivityEvent : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }
    public required string ActivityStatus { get; set; }

    /// <summary>activityDateTime read as UTC (an offset-less time is taken as UTC).</summary>
    public DateTimeOffset ActivityAt { get; set; }

    public string? Iid { get; set; }
    public string? ContactId { get; set; }
    public string? Email { get; set; }
    public string? MediaType { get; set; }

    /// <summary>The event as it was posted, forwarded unchanged to the activity URL.</summary>
    public required string PayloadJson { get; set; }

    public required string FeedStatus { get; set; }
    public Guid? BatchId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>The account's activity URL: where its events go, batched and in order.</summary>
internal sealed class ActivityWebhook
{
    /// <summary>Also the connection id of its batches in the attempt log.</summary>
    public Guid Id { get; set; }

    public Guid AccountId { get; set; }
    public required string Url { get; set; }
    public Guid? AuthConnectorId { get; set; }

    /// <summary>JSON array of activity statuses to send; empty sends all.</summary>
    public required string EventTypesJson { get; set; }

    public int BatchSize { get; set; }
    public int MaxBatchAgeSeconds { get; set; }
    public bool Enabled { get; set; }
    public required string SigningSecretProtected { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A batch of events for the activity URL. One open batch per account: the head of the line.</summary>
internal sealed class ActivityBatch : IEntity
{
    public Guid Id { get; set; }
    public Guid AccountId { get; set; }

    /// <summary>pending (being sent or waiting for a retry) or delivered.</summary>
    public required string Status { get; set; }

    public int EventCount { get; set; }
    public int AttemptCount { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public DateTimeOffset? FirstAttemptAt { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
}
