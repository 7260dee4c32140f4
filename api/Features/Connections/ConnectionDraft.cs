using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Delivery;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.Connections;

/// <summary>
/// A connection's settings while they are being created or edited: built from defaults and a
/// <see cref="ConnectionIn"/>, or from a row and a patch, then validated as a whole (a patch
/// can only be judged together with what it leaves unchanged) and applied.
/// </summary>
internal sealed class ConnectionDraft
{
    public string Title { get; set; } = string.Empty;
    public string Url { get; set; } = string.Empty;
    public WebhookMethod Method { get; set; } = WebhookMethod.Post;
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public string? AuthConnectorId { get; set; }
    public BodyFormat BodyFormat { get; set; } = BodyFormat.Json;
    public string? BodyTemplate { get; set; }
    public bool ParamsInHeaders { get; set; }
    public int TimeoutSeconds { get; set; } = ConnectionRules.DefaultTimeoutSeconds;
    public int MaxConcurrency { get; set; } = ConnectionRules.DefaultMaxConcurrency;
    public int? RateLimitPerSecond { get; set; }
    public RetryPolicyIn RetryPolicy { get; set; } = new();
    public bool ExpectJsonResponse { get; set; }

    public const int MaxBodyTemplateLength = 256 * 1024;

    /// <summary>Names given twice in one request, differing only in case ("X-Key" and "x-key"): refused by <see cref="ValidateAsync"/>.</summary>
    private readonly List<string> _repeatedHeaders = [];

    /// <summary>
    /// The request's headers, keyed without regard to case as HTTP names are. A name given twice
    /// that way is kept for <see cref="ValidateAsync"/> to refuse: which value was meant is not
    /// ours to guess (and the dictionary's copy constructor threw on it, a 500).
    /// </summary>
    private void SetHeaders(Dictionary<string, string> given)
    {
        Headers = new Dictionary<string, string>(given.Count, StringComparer.OrdinalIgnoreCase);
        _repeatedHeaders.Clear();
        foreach (var (name, value) in given)
        {
            if (!Headers.TryAdd(name, value))
            {
                _repeatedHeaders.Add(name);
            }
        }
    }

    public static ConnectionDraft From(ConnectionIn request, ConnectionDraft? template = null)
    {
        var draft = template ?? new ConnectionDraft();
        draft.Title = request.Title ?? draft.Title;
        draft.Url = request.Url ?? draft.Url;
        draft.Method = request.Method ?? draft.Method;
        if (request.Headers is not null)
        {
            draft.SetHeaders(request.Headers);
        }

        draft.AuthConnectorId = request.AuthConnectorId ?? draft.AuthConnectorId;
        draft.BodyFormat = request.BodyFormat ?? draft.BodyFormat;
        draft.BodyTemplate = request.BodyTemplate ?? draft.BodyTemplate;
        draft.ParamsInHeaders = request.ParamsInHeaders ?? draft.ParamsInHeaders;
        draft.TimeoutSeconds = request.TimeoutSeconds ?? draft.TimeoutSeconds;
        draft.MaxConcurrency = request.MaxConcurrency ?? draft.MaxConcurrency;
        draft.RateLimitPerSecond = request.RateLimitPerSecond ?? draft.RateLimitPerSecond;
        draft.RetryPolicy = request.RetryPolicy ?? draft.RetryPolicy;
        draft.ExpectJsonResponse = request.ExpectJsonResponse ?? draft.ExpectJsonResponse;
        return draft;
    }

    public static ConnectionDraft From(Connection row) => new()
    {
        Title = row.Title,
        Url = row.Url,
        Method = ConnectionRules.ParseMethod(row.Method),
        Headers = new Dictionary<string, string>(ConnectionRules.ReadHeaders(row.HeadersJson), StringComparer.OrdinalIgnoreCase),
        AuthConnectorId = row.AuthConnectorId?.ToString(),
        BodyFormat = Enum.Parse<BodyFormat>(row.BodyFormat, ignoreCase: true),
        BodyTemplate = row.BodyTemplate,
        ParamsInHeaders = row.ParamsInHeaders,
        TimeoutSeconds = row.TimeoutSeconds,
        MaxConcurrency = row.MaxConcurrency,
        RateLimitPerSecond = row.RateLimitPerSecond,
        RetryPolicy = ConnectionRules.ReadRetryPolicy(row.RetryPolicyJson),
        ExpectJsonResponse = row.ExpectJsonResponse,
    };

    /// <summary>Merge-patch: a field present in <paramref name="body"/> replaces the draft's (null clears it where that is allowed).</summary>
    public void Apply(JsonElement body, ConnectionPatch patch, ValidationErrors errors)
    {
        bool Has(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out _);
        void Required(string name)
        {
            if (Has(name) && body.GetProperty(name).ValueKind == JsonValueKind.Null)
            {
                errors.Add(name, $"{name} cannot be null.");
            }
        }

        foreach (var name in (string[])["title", "url", "method", "headers", "bodyFormat", "paramsInHeaders", "timeoutSeconds", "maxConcurrency", "retryPolicy", "expectJsonResponse"])
        {
            Required(name);
        }

        if (patch.Title is not null) { Title = patch.Title; }
        if (patch.Url is not null) { Url = patch.Url; }
        if (patch.Method is not null) { Method = patch.Method.Value; }
        if (patch.Headers is not null) { SetHeaders(patch.Headers); }
        if (Has("authConnectorId")) { AuthConnectorId = patch.AuthConnectorId; }
        if (patch.BodyFormat is not null) { BodyFormat = patch.BodyFormat.Value; }
        if (Has("bodyTemplate")) { BodyTemplate = patch.BodyTemplate; }
        if (patch.ParamsInHeaders is not null) { ParamsInHeaders = patch.ParamsInHeaders.Value; }
        if (patch.TimeoutSeconds is not null) { TimeoutSeconds = patch.TimeoutSeconds.Value; }
        if (patch.MaxConcurrency is not null) { MaxConcurrency = patch.MaxConcurrency.Value; }
        if (Has("rateLimitPerSecond")) { RateLimitPerSecond = patch.RateLimitPerSecond; }
        if (patch.RetryPolicy is not null) { RetryPolicy = patch.RetryPolicy; }
        if (patch.ExpectJsonResponse is not null) { ExpectJsonResponse = patch.ExpectJsonResponse.Value; }
    }

    public async Task ValidateAsync(ValidationErrors errors, Guid accountId, WebhooksDbContext db, UrlPolicy urlPolicy, CancellationToken cancellationToken)
    {
        Title = Title.Trim();
        errors.Length("title", Title, 1, 200);

        Url = Url.Trim();
        if (Url.Length == 0)
        {
            errors.Add("url", "url is required.");
        }
        else if (Url.Length > UrlPolicy.MaxUrlLength)
        {
            errors.Add("url", $"url must be at most {UrlPolicy.MaxUrlLength} characters.");
        }
        else if (ConnectionTemplates.CheckUrl(Url, out var sampleUrl) is { } urlTemplateError)
        {
            errors.Add("url", urlTemplateError);
        }
        else
        {
            // A templated URL is checked as it renders for the sample contact; the connect-time
            // check polices every real request on the address actually dialled.
            var check = await urlPolicy.CheckAsync(sampleUrl, cancellationToken);
            // A name that does not resolve yet is accepted (DNS may come later, and a test send
            // reports dns_failure); an address that is forbidden never is.
            if (!check.Allowed && check.Reason != UrlCheckReasons.DnsFailure)
            {
                errors.Add("url", $"{check.Message} ({check.Reason})");
            }
        }

        if (Headers.Count > HeaderRules.MaxHeaders)
        {
            errors.Add("headers", $"At most {HeaderRules.MaxHeaders} headers.");
        }

        foreach (var name in _repeatedHeaders)
        {
            errors.Add($"headers.{name}", "This header is given twice: header names do not differ by case.");
        }

        foreach (var (name, value) in Headers)
        {
            var field = $"headers.{name}";
            if (!HeaderRules.IsValidName(name))
            {
                errors.Add(field, "Not a valid HTTP header name.");
            }
            else if (HeaderRules.IsRefused(name))
            {
                errors.Add(field, $"The header '{name}' is set by the HTTP stack or the signature and cannot be configured.");
            }
            else if (value is null)
            {
                errors.Add(field, "A header value must be a string.");
            }
            else if (value.Length > 4000)
            {
                errors.Add(field, "A header value must be at most 4000 characters.");
            }
            else if (value.Any(c => c is '\r' or '\n' or '\0'))
            {
                errors.Add(field, "A header value cannot contain CR, LF or NUL.");
            }
            else if (ConnectionTemplates.CheckHeader(value) is { } headerError)
            {
                errors.Add(field, headerError);
            }
        }

        if (AuthConnectorId is not null)
        {
            var exists = Guid.TryParse(AuthConnectorId, out var connectorId)
                && await db.AuthConnectors.AnyAsync(c => c.Id == connectorId && c.AccountId == accountId, cancellationToken);
            if (!exists)
            {
                errors.Add("authConnectorId", $"No auth connector with id '{AuthConnectorId}'.");
            }
        }

        if (BodyTemplate is not null)
        {
            if (BodyTemplate.Length > MaxBodyTemplateLength)
            {
                errors.Add("bodyTemplate", $"bodyTemplate must be at most {MaxBodyTemplateLength} characters.");
            }
            else if (Method == WebhookMethod.Get && BodyTemplate.Length > 0)
            {
                errors.Add("bodyTemplate", "A GET request has no body: pass values in the URL (or in headers with paramsInHeaders).");
            }
            else if (ConnectionTemplates.CheckBody(BodyTemplate, BodyFormat) is { } bodyError)
            {
                errors.Add("bodyTemplate", bodyError);
            }
        }

        if (TimeoutSeconds is < 1 or > ConnectionRules.MaxTimeoutSeconds)
        {
            errors.Add("timeoutSeconds", $"timeoutSeconds must be between 1 and {ConnectionRules.MaxTimeoutSeconds}.");
        }

        if (MaxConcurrency is < 1 or > ConnectionRules.MaxMaxConcurrency)
        {
            errors.Add("maxConcurrency", $"maxConcurrency must be between 1 and {ConnectionRules.MaxMaxConcurrency}.");
        }

        if (RateLimitPerSecond is < 1 or > 10_000)
        {
            errors.Add("rateLimitPerSecond", "rateLimitPerSecond must be between 1 and 10000, or null for no limit.");
        }

        foreach (var (field, message) in RetryPolicyMapping.Validate(RetryPolicy))
        {
            errors.Add(field, message);
        }
    }

    /// <summary>Writes the draft to the row; true when what is sent changed.</summary>
    public bool ApplyTo(Connection row)
    {
        var headersJson = ConnectionRules.WriteHeaders(Headers);
        var authId = AuthConnectorId is null ? (Guid?)null : Guid.Parse(AuthConnectorId);
        var method = ConnectionRules.MethodName(Method);
        var format = ConnectionRules.FormatName(BodyFormat);
        var shapeChanged = row.Url != Url || row.Method != method || row.HeadersJson != headersJson || row.AuthConnectorId != authId
            || row.BodyFormat != format || row.BodyTemplate != BodyTemplate || row.ParamsInHeaders != ParamsInHeaders;

        row.Title = Title;
        row.Url = Url;
        row.Method = method;
        row.HeadersJson = headersJson;
        row.AuthConnectorId = authId;
        row.BodyFormat = format;
        row.BodyTemplate = BodyTemplate;
        row.ParamsInHeaders = ParamsInHeaders;
        row.TimeoutSeconds = TimeoutSeconds;
        row.MaxConcurrency = MaxConcurrency;
        row.RateLimitPerSecond = RateLimitPerSecond;
        row.RetryPolicyJson = ConnectionRules.WriteRetryPolicy(RetryPolicy);
        row.ExpectJsonResponse = ExpectJsonResponse;
        return shapeChanged;
    }
}
