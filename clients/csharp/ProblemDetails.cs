using System.Text.Json.Serialization;

namespace WebhooksApi.Client;

/// <remarks>
/// The document's ProblemDetails schema lists only the RFC 9457 core members (and says
/// <c>additionalProperties: false</c>), but the API also sends <c>errors</c> for validation
/// problems and a <c>traceId</c>. They are declared here, beside the generated class, so they
/// deserialize. Once openapi.yaml declares them, NSwag generates them too and the build fails on
/// the duplicates: delete them here then.
/// </remarks>
public partial class ProblemDetails
{
    /// <summary>
    /// For validation problems (<c>urn:webhooks-api:problem:validation</c>): each field name or
    /// JSON pointer at fault (<c>url</c>, <c>/method</c>, <c>headers.Host</c>) with its messages.
    /// </summary>
    [JsonPropertyName("errors")]
    public IDictionary<string, string[]>? Errors { get; set; }

    /// <summary>The request's trace id; quote it when reporting a 5xx.</summary>
    [JsonPropertyName("traceId")]
    public string? TraceId { get; set; }
}
