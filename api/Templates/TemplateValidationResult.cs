using System.Diagnostics.CodeAnalysis;

namespace WebhooksApi.Templates;

/// <summary>The outcome of a save-time check. Line and column are 1-based.</summary>
internal sealed class TemplateValidationResult
{
    private static readonly TemplateValidationResult SuccessWithoutSample = new(TemplateErrorKind.None, null, null, null, null);

    private TemplateValidationResult(TemplateErrorKind kind, string? error, int? line, int? column, string? renderedSample)
    {
        Kind = kind;
        Error = error;
        Line = line;
        Column = column;
        RenderedSample = renderedSample;
    }

    [MemberNotNullWhen(false, nameof(Error))]
    public bool Ok => Kind == TemplateErrorKind.None;

    public TemplateErrorKind Kind { get; }

    public string? Error { get; }

    /// <summary>For <see cref="TemplateErrorKind.Syntax"/> a template line; for <see cref="TemplateErrorKind.Output"/> a line of <see cref="RenderedSample"/>.</summary>
    public int? Line { get; }

    public int? Column { get; }

    /// <summary>The template rendered with the sample model, when it got that far (shown to the user next to an output error).</summary>
    public string? RenderedSample { get; }

    public static TemplateValidationResult Success(string? renderedSample = null) =>
        renderedSample is null ? SuccessWithoutSample : new(TemplateErrorKind.None, null, null, null, renderedSample);

    public static TemplateValidationResult Failure(TemplateErrorKind kind, string error, int? line = null, int? column = null, string? renderedSample = null)
    {
        if (kind == TemplateErrorKind.None)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), "A failure needs a kind.");
        }

        return new(kind, error, line, column, renderedSample);
    }

    public override string ToString() => Ok
        ? "ok"
        : Line is { } line ? $"{Kind} error at line {line}, column {Column}: {Error}" : $"{Kind} error: {Error}";
}

/// <summary>A compiled template, or why the text did not compile.</summary>
internal sealed class TemplateCompileResult
{
    internal TemplateCompileResult(CompiledTemplate? template, TemplateValidationResult validation)
    {
        Template = template;
        Validation = validation;
    }

    public CompiledTemplate? Template { get; }

    public TemplateValidationResult Validation { get; }

    [MemberNotNullWhen(true, nameof(Template))]
    public bool Ok => Template is not null;
}

/// <summary>
/// A template that cannot be compiled or rendered. Carries the same facts as
/// <see cref="TemplateValidationResult"/> so send-time failures can be reported like save-time ones.
/// </summary>
internal sealed class TemplateException : Exception
{
    public TemplateException()
        : this(TemplateErrorKind.Render, "The template could not be rendered.")
    {
    }

    public TemplateException(string message)
        : this(TemplateErrorKind.Render, message)
    {
    }

    public TemplateException(string message, Exception innerException)
        : this(TemplateErrorKind.Render, message, null, null, innerException)
    {
    }

    public TemplateException(TemplateErrorKind kind, string message, int? line = null, int? column = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Line = line;
        Column = column;
    }

    public TemplateErrorKind Kind { get; }

    public int? Line { get; }

    public int? Column { get; }

    internal static TemplateException From(TemplateValidationResult result) =>
        new(result.Kind, result.Error ?? "The template is not valid.", result.Line, result.Column);
}
