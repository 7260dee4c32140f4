namespace WebhooksApi.Templates;

/// <summary>
/// Bounds on what one template may cost. Rendering runs on the delivery hot path with
/// user-written templates and user-supplied data, so every dimension that can grow is capped.
/// </summary>
internal sealed record TemplateLimits
{
    public static TemplateLimits Default { get; } = new();

    /// <summary>Longest template accepted (characters); matches the connection body-template limit.</summary>
    public int MaxTemplateLength { get; init; } = 256 * 1024;

    /// <summary>Longest rendered output (UTF-16 characters, i.e. 1 MiB of ASCII).</summary>
    public int MaxOutputChars { get; init; } = 1024 * 1024;

    /// <summary>
    /// Loop iterations ({{#each}} and list/object sections) per render, counted across all
    /// loops, nested ones included. Nested loops over a large array are the one way a small
    /// template can do work far beyond its input and output size, and a loop whose body writes
    /// nothing would never trip <see cref="MaxOutputChars"/>.
    /// </summary>
    public int MaxIterations { get; init; } = 100_000;

    /// <summary>
    /// Characters produced by helpers (json, urlencode, xml, formatDate) and by printing whole
    /// objects, per render. A helper used as a sub-expression (e.g. inside {{#if}}) does work
    /// that never reaches the output, so it is charged here instead.
    /// </summary>
    public int MaxHelperChars { get; init; } = 16 * 1024 * 1024;

    /// <summary>Nested blocks. Handlebars compiles nesting recursively; this keeps the stack small.</summary>
    public int MaxBlockDepth { get; init; } = 32;

    /// <summary>Nested sub-expressions <c>(helper (helper ...))</c>, for the same reason.</summary>
    public int MaxSubexpressionDepth { get; init; } = 8;

    /// <summary>Compiled templates kept in memory (format + text).</summary>
    public int CacheCapacity { get; init; } = 1024;
}
