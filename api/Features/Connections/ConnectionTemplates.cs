using WebhooksApi.Delivery;
using WebhooksApi.Templates;

namespace WebhooksApi.Features.Connections;

/// <summary>A template that compiled but could not be rendered for this contact.</summary>
/// <param name="timedOut">
/// Stopped by the render time limit rather than refused by the template or the data: it says
/// how busy the machine was, not what the template is (the budgets in RenderBudget stop a
/// template that runs long on any machine), so a delivery retries it instead of failing.
/// </param>
internal sealed class TemplateRenderException(string message, Exception? inner = null, bool timedOut = false) : Exception(message, inner)
{
    public bool TimedOut { get; } = timedOut;
}

/// <summary>
/// The connection's view of the template engine: save-time checks (with line and column, on the
/// built-in sample contact) and send-time rendering of the URL, header values and body, each
/// with the escaping of where the value lands.
/// </summary>
internal static class ConnectionTemplates
{
    /// <summary>A render that takes longer than this is stopped, unless the caller gives its own limit.</summary>
    public static readonly TimeSpan RenderTimeLimit = TimeSpan.FromSeconds(1);

    // Compiled templates are cached inside the renderer, keyed by format and text; it is thread-safe.
    private static readonly TemplateRenderer Renderer = new();

    /// <summary>Why a stored payload cannot be read for a template or the default envelope.</summary>
    public const string UnreadablePayload = "The contact, event or variables cannot be read: text that is not valid Unicode (half of a surrogate pair), or a property name given twice.";

    public static TemplateModel Model(MessageInput input)
    {
        try
        {
            return TemplateModel.Create(
                input.Contact, input.Event, input.Variables, input.AccountId.ToString(), input.AccountName, input.MessageId, input.Timestamp);
        }
        catch (Exception e) when (IsUnreadablePayload(e))
        {
            throw new TemplateRenderException(UnreadablePayload, e);
        }
    }

    /// <summary>
    /// What reading a stored payload's nodes throws when it cannot be read: System.Text.Json
    /// cannot read half of a surrogate pair ("\ud800" alone) as a string, and a JsonObject throws
    /// on a name it holds twice. The API refuses both at the door (NulFreeStrings); a row accepted
    /// before it did fails as a template error (every attempt would read the same payload) instead
    /// of throwing out of the send, which left the row to its lease, again and again. For the
    /// template model here and the default envelope (RequestComposer.DefaultEnvelope).
    /// </summary>
    public static bool IsUnreadablePayload(Exception e) => e is InvalidOperationException or ArgumentException;

    public static string? CheckUrl(string template, out string sampleRendered)
    {
        var result = Renderer.Validate(template, TemplateFormat.Url);
        sampleRendered = result.RenderedSample ?? template;
        return Describe(result);
    }

    public static string? CheckHeader(string template) => Describe(Renderer.Validate(template, TemplateFormat.Header));

    public static string? CheckBody(string template, BodyFormat format) => Describe(Renderer.Validate(template, FormatOf(format)));

    /// <param name="model">Called only when the template has a tag: a plain URL needs no model.</param>
    public static string RenderUrl(string template, Func<TemplateModel> model, TimeSpan? limit = null) => Render(template, TemplateFormat.Url, model, limit);

    /// <param name="model">Called only when the template has a tag: a plain header needs no model.</param>
    public static string RenderHeader(string template, Func<TemplateModel> model, TimeSpan? limit = null) => Render(template, TemplateFormat.Header, model, limit);

    /// <summary>
    /// Renders the body and, for JSON and XML, checks what came out: a branch the sample contact
    /// never took at save time can still produce a broken document, and that must be a
    /// template_error here, not a malformed request at the receiver.
    /// </summary>
    public static string RenderBody(string template, BodyFormat format, Func<TemplateModel> model, TimeSpan? limit = null)
    {
        var body = Render(template, FormatOf(format), model, limit);
        switch (format)
        {
            case BodyFormat.Json:
                try
                {
                    using var _ = System.Text.Json.JsonDocument.Parse(body);
                }
                catch (System.Text.Json.JsonException e)
                {
                    throw new TemplateRenderException($"The body rendered for this contact is not valid JSON (line {(e.LineNumber ?? 0) + 1}, position {(e.BytePositionInLine ?? 0) + 1}).", e);
                }

                break;
            case BodyFormat.Xml:
                try
                {
                    using var reader = System.Xml.XmlReader.Create(new StringReader(body), new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Prohibit, XmlResolver = null });
                    while (reader.Read())
                    {
                    }
                }
                catch (System.Xml.XmlException e)
                {
                    throw new TemplateRenderException($"The body rendered for this contact is not valid XML (line {e.LineNumber}, column {e.LinePosition}).", e);
                }

                break;
        }

        return body;
    }

    private static string Render(string template, TemplateFormat format, Func<TemplateModel> model, TimeSpan? limit)
    {
        if (!template.Contains("{{", StringComparison.Ordinal))
        {
            return template;
        }

        var allowed = limit ?? RenderTimeLimit;
        try
        {
            // Compiled before the clock starts: a template compiles once per process (cached), and
            // right after a start, with the JIT busy, that alone could take longer than a render
            // may. Its cost is bounded by the template's length, checked at save time.
            var compiled = Renderer.CompileOrThrow(template, format);
            var values = model();
            using var stop = new CancellationTokenSource(allowed);
            return Renderer.Render(compiled, values, stop.Token);
        }
        catch (TemplateException e)
        {
            throw new TemplateRenderException(Position(e.Message, e.Line, e.Column), e);
        }
        catch (OperationCanceledException e)
        {
            throw new TemplateRenderException($"Rendering took longer than {allowed.TotalSeconds:0.###} s and was stopped.", e, timedOut: true);
        }
    }

    private static TemplateFormat FormatOf(BodyFormat format) => format switch
    {
        BodyFormat.Xml => TemplateFormat.Xml,
        BodyFormat.Text => TemplateFormat.Text,
        _ => TemplateFormat.Json,
    };

    private static string? Describe(TemplateValidationResult result) =>
        result.Ok ? null : Position(result.Error ?? "The template is not valid.", result.Line, result.Column);

    private static string Position(string message, int? line, int? column) =>
        line is null ? message : $"{message.TrimEnd('.')} (line {line}, column {column}).";
}
