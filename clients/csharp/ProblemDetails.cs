using System.Text.Json.Serialization;

namespace WebhooksApi.Client;

/// <remarks>
/// The document types validation problems (400) as <see cref="HttpValidationProblemDetails"/>,
/// with <c>errors</c>, and every other problem as this class, without. <see
/// cref="ApiExceptionExtensions.GetProblem"/> reads any problem as this class, so it carries
/// <c>errors</c> too (null for problems that are not about validation).
/// </remarks>
public partial class ProblemDetails
{
    /// <summary>
    /// For validation problems (<c>urn:webhooks-api:problem:validation</c>): each field name or
    /// JSON pointer at fault (<c>url</c>, <c>/method</c>, <c>headers.Host</c>) with its messages.
    /// </summary>
    [JsonPropertyName("errors")]
    public IDictionary<string, ICollection<string>>? Errors { get; set; }
}
