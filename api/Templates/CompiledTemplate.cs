using HandlebarsDotNet;

namespace WebhooksApi.Templates;

/// <summary>A template ready to render; immutable and safe to render from many threads at once.</summary>
internal sealed class CompiledTemplate
{
    internal CompiledTemplate(TemplateFormat format, string source, HandlebarsTemplate<TextWriter, object, object> body)
    {
        Format = format;
        Source = source;
        Body = body;
    }

    public TemplateFormat Format { get; }

    /// <summary>The template text as the user wrote it.</summary>
    public string Source { get; }

    internal HandlebarsTemplate<TextWriter, object, object> Body { get; }
}
