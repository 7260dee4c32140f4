namespace WebhooksApi.Delivery;

/// <summary>Machine-readable results of one request, stable on the wire and in logs.</summary>
internal static class Outcomes
{
    public const string Ok = "ok";
    public const string HttpError = "http_error";
    public const string Timeout = "timeout";
    public const string DnsFailure = "dns_failure";
    public const string TlsFailure = "tls_failure";
    public const string ConnectionRefused = "connection_refused";
    public const string ConnectionError = "connection_error";
    public const string UrlBlocked = "url_blocked";
    public const string InvalidResponseFormat = "invalid_response_format";
    public const string TemplateError = "template_error";

    /// <summary>Every outcome, for validating filters.</summary>
    public static readonly IReadOnlyList<string> All =
        [Ok, HttpError, Timeout, DnsFailure, TlsFailure, ConnectionRefused, ConnectionError, UrlBlocked, InvalidResponseFormat, TemplateError];
}
