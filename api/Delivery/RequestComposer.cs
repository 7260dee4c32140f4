using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Features.AuthConnectors;
using WebhooksApi.Features.Connections;
using WebhooksApi.Persistence;
using WebhooksApi.Security;
using WebhooksApi.Templates;


namespace WebhooksApi.Delivery;

/// <summary>The request as it may be shown and logged: secrets replaced by ****.</summary>
internal sealed record MaskedRequest(string Method, string Url, IReadOnlyDictionary<string, string> Headers, string? Body);

/// <summary>A composed request, or the template error that stopped it.</summary>
/// <param name="TemplateTimedOut">The error is the render time limit (see <see cref="TemplateRenderException.TimedOut"/>): worth another attempt.</param>
internal sealed record ComposedRequest(OutgoingRequest? Request, MaskedRequest Masked, string? TemplateError, bool TemplateTimedOut = false);

/// <summary>Everything a request is rendered from.</summary>
internal sealed record MessageInput(
    JsonObject Contact,
    JsonObject Event,
    JsonObject Variables,
    Guid AccountId,
    string AccountName,
    string MessageId,
    string EventType,
    DateTimeOffset Timestamp);

/// <summary>
/// Turns a connection and a contact/event into the exact HTTP request: URL, headers and body
/// rendered with context-aware escaping, parameters moved to headers when asked, credentials
/// applied, Standard Webhooks signature added. Also produces the masked copy for logs and test output.
/// </summary>
internal sealed class RequestComposer(SecretProtector protector)
{
    public const string Mask = "****";
    private const string UserAgent = "WebhooksApi/1.0 (+https://www.standardwebhooks.com)";

    public async Task<ComposedRequest> ComposeAsync(WebhooksDbContext db, Connection connection, MessageInput input, CancellationToken cancellationToken)
    {
        var auth = connection.AuthConnectorId is { } authId
            ? await db.AuthConnectors.AsNoTracking().FirstOrDefaultAsync(a => a.Id == authId, cancellationToken)
            : null;
        return Compose(connection, auth, input);
    }

    /// <param name="body">A body composed elsewhere (an activity batch) instead of the connection's template or envelope.</param>
    /// <param name="renderLimit">How long each template may render (default <see cref="ConnectionTemplates.RenderTimeLimit"/>).</param>
    public ComposedRequest Compose(Connection connection, AuthConnector? auth, MessageInput input, string? body = null, TimeSpan? renderLimit = null)
    {
        var secrets = new List<string>();
        // Built on first use (the renders call it only for a template with a tag): a plain URL and
        // headers with the default envelope never read it, and building it for each delivery was
        // ~2% of the throughput benchmark's CPU (issue #8).
        TemplateModel? model = null;
        TemplateModel Model() => model ??= ConnectionTemplates.Model(input);
        var method = connection.Method;
        string url;
        var headers = new List<KeyValuePair<string, string>>();
        try
        {
            url = ConnectionTemplates.RenderUrl(connection.Url, Model, renderLimit);
            foreach (var (name, value) in ConnectionRules.ReadHeaders(connection.HeadersJson))
            {
                headers.Add(new(name, ConnectionTemplates.RenderHeader(value, Model, renderLimit)));
            }

            if (method != "GET" && body is null)
            {
                body = connection.BodyTemplate is null
                    ? DefaultEnvelope(input)
                    : ConnectionTemplates.RenderBody(connection.BodyTemplate, Enum.Parse<BodyFormat>(connection.BodyFormat, ignoreCase: true), Model, renderLimit);
            }
        }
        catch (TemplateRenderException e)
        {
            return new ComposedRequest(null, new MaskedRequest(method, connection.Url, new Dictionary<string, string>(), null), e.Message, e.TimedOut);
        }

        UriBuilder uri;
        try
        {
            uri = new UriBuilder(url);
        }
        catch (UriFormatException e)
        {
            // A value the template put where the URL has no room for one (a port of "99999999",
            // say): every attempt would render it the same way. Thrown out of here, it left the
            // row to its lease, to be claimed and thrown again every lease period.
            return new ComposedRequest(null, new MaskedRequest(method, connection.Url, new Dictionary<string, string>(), null), $"The URL rendered for this contact is not valid: {e.Message}");
        }

        if (connection.ParamsInHeaders && uri.Query.Length > 1)
        {
            // "Pass parameters in headers": each query parameter becomes a header, so values
            // such as emails stay out of URLs and the access logs that record them.
            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var cut = pair.IndexOf('=', StringComparison.Ordinal);
                var name = Uri.UnescapeDataString(cut < 0 ? pair : pair[..cut]);
                var value = cut < 0 ? string.Empty : Uri.UnescapeDataString(pair[(cut + 1)..].Replace('+', ' '));
                if (HeaderRules.IsValidName(name) && !HeaderRules.IsRefused(name))
                {
                    headers.Add(new(name, StripLineBreaks(value)));
                }
            }

            uri.Query = string.Empty;
        }

        if (auth is not null)
        {
            ApplyAuth(auth, headers, uri, secrets);
        }

        var bodyBytes = body is null ? null : Encoding.UTF8.GetBytes(body);
        var signingSecrets = new List<string> { protector.Unprotect(connection.SigningSecretProtected) };
        if (connection.PreviousSigningSecretProtected is not null && connection.PreviousSecretExpiresAt > input.Timestamp)
        {
            signingSecrets.Add(protector.Unprotect(connection.PreviousSigningSecretProtected));
        }

        var timestamp = input.Timestamp.ToUnixTimeSeconds();
        headers.Add(new(WebhookSigner.IdHeader, input.MessageId));
        headers.Add(new(WebhookSigner.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        headers.Add(new(WebhookSigner.SignatureHeader, WebhookSigner.Sign(signingSecrets, input.MessageId, timestamp, bodyBytes ?? [])));
        if (!headers.Any(h => h.Key.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)))
        {
            headers.Add(new("User-Agent", UserAgent));
        }

        var contentType = body is null ? null : ContentTypeOf(connection.BodyFormat);
        var finalUrl = uri.Uri;
        var request = new OutgoingRequest(method, finalUrl, headers, bodyBytes, contentType, TimeSpan.FromSeconds(connection.TimeoutSeconds));

        var maskedHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in headers)
        {
            maskedHeaders[name] = name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
                ? (value.Split(' ', 2)[0] + " " + Mask)
                : MaskSecrets(value, secrets);
        }

        if (contentType is not null)
        {
            maskedHeaders["Content-Type"] = contentType;
        }

        var masked = new MaskedRequest(method, MaskSecrets(finalUrl.ToString(), secrets), maskedHeaders, body is null ? null : MaskSecrets(body, secrets));
        return new ComposedRequest(request, masked, null);
    }

    private void ApplyAuth(AuthConnector auth, List<KeyValuePair<string, string>> headers, UriBuilder uri, List<string> secrets)
    {
        var pub = JsonSerializer.Deserialize<AuthPublic>(auth.PublicJson, AuthConnectorMapping.StoreJson) ?? new AuthPublic();
        var secret = JsonSerializer.Deserialize<AuthSecrets>(protector.Unprotect(auth.SecretsProtected), AuthConnectorMapping.StoreJson) ?? new AuthSecrets();
        headers.RemoveAll(h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
        switch (AuthConnectorMapping.ParseType(auth.Type))
        {
            case AuthConnectorType.Basic:
                var token = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{pub.Username}:{secret.Password}"));
                secrets.Add(secret.Password ?? string.Empty);
                secrets.Add(token);
                headers.Add(new("Authorization", new AuthenticationHeaderValue("Basic", token).ToString()));
                break;
            case AuthConnectorType.Bearer:
                secrets.Add(secret.Token ?? string.Empty);
                headers.Add(new("Authorization", $"Bearer {secret.Token}"));
                break;
            default:
                var value = secret.Value ?? string.Empty;
                secrets.Add(value);
                secrets.Add(Uri.EscapeDataString(value));
                if (pub.In == ApiKeyLocation.Query)
                {
                    var parameter = $"{Uri.EscapeDataString(pub.KeyName ?? "api_key")}={Uri.EscapeDataString(value)}";
                    uri.Query = uri.Query.Length > 1 ? uri.Query.TrimStart('?') + "&" + parameter : parameter;
                }
                else
                {
                    headers.RemoveAll(h => h.Key.Equals(pub.KeyName, StringComparison.OrdinalIgnoreCase));
                    headers.Add(new(pub.KeyName ?? "X-Api-Key", value));
                }

                break;
        }
    }

    /// <summary>The body sent when a connection has no template: a self-describing JSON envelope.</summary>
    public static string DefaultEnvelope(MessageInput input)
    {
        // Written straight from the input's nodes: an envelope JsonObject had to deep-clone the
        // contact, event and variables (a node has one parent) for every delivery (~2% of the
        // throughput benchmark's CPU with the serialization, issue #8). Same bytes as before.
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", input.MessageId);
            json.WriteString("event", input.EventType);
            json.WriteString("timestamp", input.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("accountId", input.AccountId.ToString());
            json.WriteStartObject("data");
            try
            {
                json.WritePropertyName("contact");
                input.Contact.WriteTo(json);
                json.WritePropertyName("event");
                input.Event.WriteTo(json);
                json.WritePropertyName("variables");
                input.Variables.WriteTo(json);
            }
            catch (Exception e) when (ConnectionTemplates.IsUnreadablePayload(e))
            {
                throw new TemplateRenderException(ConnectionTemplates.UnreadablePayload, e);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string MaskSecrets(string text, IReadOnlyCollection<string> secrets)
    {
        foreach (var secret in secrets)
        {
            // Very short values would mask half the document and reveal nothing worth hiding.
            if (secret.Length >= 3)
            {
                text = text.Replace(secret, Mask, StringComparison.Ordinal);
            }
        }

        return text;
    }

    private static string ContentTypeOf(string format) => format switch
    {
        "xml" => "application/xml; charset=utf-8",
        "text" => "text/plain; charset=utf-8",
        _ => "application/json",
    };

    /// <summary>
    /// A query value moved into a header: the header escaping drops what could end the line,
    /// U+2028/U+2029 included (char.IsControl alone let those through).
    /// </summary>
    private static string StripLineBreaks(string value) => Templates.TemplateEscaping.Header(value);
}
