namespace WebhooksApi.Templates;

/// <summary>
/// Where the rendered text goes. It decides how every inserted value is escaped, so that a
/// value can never change the structure of the document around it.
/// </summary>
internal enum TemplateFormat
{
    /// <summary>Values are JSON-string-escaped without quotes: the author writes <c>"name": "{{contact.firstName}}"</c>.</summary>
    Json,

    /// <summary>Values are XML-escaped (&amp; &lt; &gt; &quot; &apos;); characters XML 1.0 cannot carry are dropped.</summary>
    Xml,

    /// <summary>Values are inserted as they are.</summary>
    Text,

    /// <summary>Values are percent-encoded (RFC 3986 unreserved characters stay), for URL templates.</summary>
    Url,

    /// <summary>Control characters (CR, LF, NUL, ...) are removed from values, for header value templates.</summary>
    Header,
}

/// <summary>Which stage refused a template.</summary>
internal enum TemplateErrorKind
{
    None,

    /// <summary>The template does not parse, or uses something refused (unknown helper, partial, triple-stash). Line and column point into the template.</summary>
    Syntax,

    /// <summary>Rendering failed or hit a limit (output size, loop iterations, helper output).</summary>
    Render,

    /// <summary>The rendered sample is not valid JSON or XML. Line and column point into the rendered output.</summary>
    Output,
}
