using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using HandlebarsDotNet;

namespace WebhooksApi.Templates;

/// <summary>
/// Compiles, checks and renders merge-tag templates (Handlebars) for webhook URLs, header values
/// and bodies, escaping every inserted value for the template's <see cref="TemplateFormat"/>.
/// Meant to be a singleton: compiled templates are cached by format and text, because the same
/// connection template is rendered for every message.
/// <para>
/// Safety model: a template can only read the model it is given. There are no partials (so no
/// file look-ups: Handlebars.Net 2.4's default partial resolver reads the file system, and it is
/// removed here too), no decorators, no helpers beyond the fixed set, and every render is bounded
/// by <see cref="TemplateLimits"/>: output size, loop iterations and helper output, plus the
/// caller's cancellation token (for a wall-clock limit, pass a token with CancelAfter).
/// </para>
/// </summary>
internal sealed partial class TemplateRenderer
{
    private const int TagsPerProbe = 64;

    private readonly HandlebarsEnvironment[] environments;
    private readonly ConcurrentDictionary<CacheKey, CacheEntry> cache = new();
    private readonly Lock trimGate = new();
    private long clock;

    public TemplateRenderer()
        : this(TemplateLimits.Default)
    {
    }

    public TemplateRenderer(TemplateLimits limits)
    {
        Limits = limits;
        environments = Enum.GetValues<TemplateFormat>().Order().Select(f => new HandlebarsEnvironment(f)).ToArray();
    }

    public TemplateLimits Limits { get; }

    /// <summary>Number of compiled templates currently cached.</summary>
    internal int CachedCount => cache.Count;

    /// <summary>
    /// Compiles a template (or returns the cached compilation). Never throws for a bad template:
    /// the result carries the error with its 1-based line and column in the template.
    /// </summary>
    public TemplateCompileResult Compile(string template, TemplateFormat format)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (!Enum.IsDefined(format))
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown template format.");
        }

        var key = new CacheKey(format, template);
        if (cache.TryGetValue(key, out var entry))
        {
            entry.LastUsed = Interlocked.Increment(ref clock);
            return entry.Result;
        }

        var result = CompileUncached(template, format);
        if (template.Length > Limits.MaxTemplateLength)
        {
            return result;
        }

        // Failures are cached too: a template saved under older rules must not be recompiled
        // for every message only to fail again.
        entry = cache.GetOrAdd(key, new CacheEntry(result, Interlocked.Increment(ref clock)));
        if (cache.Count > Limits.CacheCapacity)
        {
            Trim();
        }

        return entry.Result;
    }

    /// <summary>
    /// The save-time check: compiles, renders with <paramref name="sampleModel"/> (default
    /// <see cref="TemplateModel.Sample"/>) and, for JSON and XML, parses the output. Only the
    /// branches the sample takes are rendered, so a JSON error in another branch shows at send time.
    /// </summary>
    public TemplateValidationResult Validate(string template, TemplateFormat format, TemplateModel? sampleModel = null, CancellationToken cancellationToken = default)
    {
        var compiled = Compile(template, format);
        if (!compiled.Ok)
        {
            return compiled.Validation;
        }

        string output;
        try
        {
            output = Render(compiled.Template, sampleModel ?? TemplateModel.Sample, cancellationToken);
        }
        catch (TemplateException e)
        {
            return TemplateValidationResult.Failure(TemplateErrorKind.Render, e.Message);
        }

        return format switch
        {
            TemplateFormat.Json => CheckJson(output),
            TemplateFormat.Xml => CheckXml(output),
            _ => TemplateValidationResult.Success(output),
        };
    }

    /// <summary>
    /// Renders a compiled template. Missing values render empty. Throws <see cref="TemplateException"/>
    /// when a limit is hit or rendering fails, and <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    public string Render(CompiledTemplate template, TemplateModel model, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var budget = RenderBudget.Start(Limits, cancellationToken);
        try
        {
            template.Body(budget.Writer, model.Root, null!);
            return budget.Writer.ToString();
        }
        catch (Exception e) when (e is not TemplateException and not OperationCanceledException)
        {
            // Handlebars.Net may wrap what our iterators, helpers and writer throw.
            for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
            {
                if (inner is TemplateException or OperationCanceledException)
                {
                    ExceptionDispatchInfo.Capture(inner).Throw();
                }
            }

            throw new TemplateException(TemplateErrorKind.Render, "The template could not be rendered: " + e.Message, innerException: e);
        }
        finally
        {
            budget.End();
        }
    }

    /// <summary>Compiles (cached) and renders; a template that does not compile throws <see cref="TemplateException"/>.</summary>
    public string Render(string template, TemplateFormat format, TemplateModel model, CancellationToken cancellationToken) =>
        Render(CompileOrThrow(template, format), model, cancellationToken);

    /// <summary>The compiled template (cached); one that does not compile throws <see cref="TemplateException"/>.</summary>
    public CompiledTemplate CompileOrThrow(string template, TemplateFormat format)
    {
        var compiled = Compile(template, format);
        return compiled.Ok ? compiled.Template : throw TemplateException.From(compiled.Validation);
    }

    private TemplateCompileResult CompileUncached(string template, TemplateFormat format)
    {
        var scan = TemplateSyntax.Scan(template, format, Limits);
        if (scan.Error is { } error)
        {
            return Failed(template, error, scan.ErrorOffset);
        }

        var environment = environments[(int)format];
        try
        {
            return new(new CompiledTemplate(format, template, environment.Compile(scan.Source)), TemplateValidationResult.Success());
        }
        catch (Exception e)
        {
            var (message, offset) = LocateHandlebarsError(e, scan, environment);
            return Failed(template, message, offset);
        }
    }

    private static TemplateCompileResult Failed(string template, string error, int offset)
    {
        if (offset < 0)
        {
            return new(null, TemplateValidationResult.Failure(TemplateErrorKind.Syntax, error));
        }

        var (line, column) = TemplateSyntax.Locate(template, offset);
        return new(null, TemplateValidationResult.Failure(TemplateErrorKind.Syntax, error, line, column));
    }

    /// <summary>
    /// Handlebars.Net 2.4's exceptions have no position property. Parser errors end their
    /// message with "Occured at: LINE:COLUMN" (0-based line, 0-based column of where its reader
    /// stopped, in the text it compiled, i.e. after our brace rewrite); others (an expression it
    /// cannot convert, a malformed hash argument, an unclosed block) carry nothing. For those,
    /// each tag is compiled on its own and the first that fails is reported.
    /// </summary>
    private static (string Message, int Offset) LocateHandlebarsError(Exception e, TemplateScan scan, HandlebarsEnvironment environment)
    {
        var message = e.Message;
        var match = HandlebarsLocation().Match(message);
        if (match.Success)
        {
            message = message[..match.Index].Trim();
            var line = int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            var column = int.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
            var offset = scan.ToOriginal(TemplateSyntax.OffsetOf(scan.Source, line, column));

            // Handlebars reports where its reader stopped, usually just past the tag's "}}";
            // the tag's start is what the user needs to find.
            var tag = scan.Tags.FindLast(t => t.Start < offset && offset <= t.End);
            return (message, tag.End > 0 ? tag.Start : offset);
        }

        message = message.Trim();
        if (message.Length == 0 || e is not HandlebarsException)
        {
            message = "The template could not be compiled (" + e.GetType().Name + (message.Length > 0 ? ": " + message : string.Empty) + ").";
        }

        var tags = scan.Tags.Where(t => t.Kind != TemplateTagKind.BlockClose).ToList();
        for (var start = 0; start < tags.Count; start += TagsPerProbe)
        {
            // A chunk of tags at a time (each made self-contained), then one by one in the chunk that
            // fails: a failing compile is cheap, but thousands of tiny ones are not.
            var chunk = tags.GetRange(start, Math.Min(TagsPerProbe, tags.Count - start));
            if (Compiles(environment, string.Concat(chunk.Select(t => Alone(scan, t)))))
            {
                continue;
            }

            foreach (var tag in chunk)
            {
                if (!Compiles(environment, Alone(scan, tag)))
                {
                    return (message, tag.Start);
                }
            }
        }

        return (message, -1);
    }

    private static string Alone(TemplateScan scan, TemplateTag tag)
    {
        var text = scan.Original[tag.Start..tag.End];
        return tag.Kind switch
        {
            TemplateTagKind.BlockOpen => text + "{{/" + tag.Name + "}}",
            TemplateTagKind.Else => "{{#if x}}" + text + "{{/if}}",
            _ => text,
        };
    }

    private static bool Compiles(HandlebarsEnvironment environment, string template)
    {
        try
        {
            environment.Compile(template);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static TemplateValidationResult CheckJson(string output)
    {
        try
        {
            using var document = JsonDocument.Parse(output);
            return TemplateValidationResult.Success(output);
        }
        catch (JsonException e)
        {
            var line = (int)(e.LineNumber ?? 0);
            var column = CharColumn(output, line, (int)(e.BytePositionInLine ?? 0));
            var reason = JsonLocation().Replace(e.Message, string.Empty);
            return TemplateValidationResult.Failure(
                TemplateErrorKind.Output,
                "Rendered with the sample data, the body is not valid JSON: " + reason,
                line + 1,
                column + 1,
                output);
        }
    }

    private static TemplateValidationResult CheckXml(string output)
    {
        // No DTDs and no resolver: the check must not expand entities or fetch anything.
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        try
        {
            using var reader = XmlReader.Create(new StringReader(output), settings);
            while (reader.Read())
            {
            }

            return TemplateValidationResult.Success(output);
        }
        catch (XmlException e)
        {
            var reason = XmlLocation().Replace(e.Message, string.Empty);
            return TemplateValidationResult.Failure(
                TemplateErrorKind.Output,
                "Rendered with the sample data, the body is not valid XML: " + reason,
                e.LineNumber > 0 ? e.LineNumber : null,
                e.LinePosition > 0 ? e.LinePosition : null,
                output);
        }
    }

    /// <summary>System.Text.Json reports a UTF-8 byte position; the user counts characters.</summary>
    private static int CharColumn(string text, int line, int bytePosition)
    {
        var start = TemplateSyntax.OffsetOf(text, line, 0);
        var bytes = 0;
        var k = start;
        while (k < text.Length && text[k] != '\n' && bytes < bytePosition)
        {
            var c = text[k];
            if (char.IsHighSurrogate(c) && k + 1 < text.Length && char.IsLowSurrogate(text[k + 1]))
            {
                bytes += 4;
                k += 2;
                continue;
            }

            bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
            k++;
        }

        return k - start;
    }

    private void Trim()
    {
        lock (trimGate)
        {
            var count = cache.Count;
            if (count <= Limits.CacheCapacity)
            {
                return;
            }

            // Evict the least recently used quarter at once, so trimming (a sort) is rare.
            var keep = Limits.CacheCapacity * 3 / 4;
            foreach (var victim in cache.ToArray().OrderBy(p => p.Value.LastUsed).Take(count - keep))
            {
                cache.TryRemove(victim.Key, out _);
            }
        }
    }

    [GeneratedRegex(@"\s*Occured at:\s*(\d+):(\d+)\s*$")]
    private static partial Regex HandlebarsLocation();

    [GeneratedRegex(@"\s*(Path: .*?\|\s*)?LineNumber: \d+ \| BytePositionInLine: \d+\.?\s*$")]
    private static partial Regex JsonLocation();

    [GeneratedRegex(@"\s*Line \d+, position \d+\.?\s*$")]
    private static partial Regex XmlLocation();

    private sealed class NoPartials : IPartialTemplateResolver
    {
        public bool TryRegisterPartial(IHandlebars env, string? partialName, string? templatePath) => false;
    }

    private readonly record struct CacheKey(TemplateFormat Format, string Text);

    private sealed class CacheEntry(TemplateCompileResult result, long lastUsed)
    {
        public TemplateCompileResult Result { get; } = result;

        public long LastUsed { get; set; } = lastUsed;
    }

    /// <summary>
    /// One Handlebars.Net environment per format: the escaping is the environment's text encoder,
    /// and json/xml/urlencode know which format they are writing into. Shared environments keep
    /// one configuration for all their templates instead of a copy per template.
    /// </summary>
    private sealed class HandlebarsEnvironment
    {
        private readonly IHandlebars handlebars;
        private readonly Lock gate = new();

        public HandlebarsEnvironment(TemplateFormat format)
        {
            var configuration = new HandlebarsConfiguration
            {
                TextEncoder = new FormatEncoder(format),

                // The default (FileSystemPartialTemplateResolver) would look an unknown partial up on
                // disk. The scanner refuses partials already; this makes sure nothing is ever loaded.
                PartialTemplateResolver = new NoPartials(),
                NoEscape = false,
                ThrowOnUnresolvedBindingExpression = false,
            };
            configuration.FormatterProviders.Add(new TemplateFormatterProvider());
            configuration.ObjectDescriptorProviders.Add(new TemplateDescriptorProvider());
            handlebars = Handlebars.CreateSharedEnvironment(configuration);
            TemplateHelpers.Register(handlebars, format);
        }

        public HandlebarsTemplate<TextWriter, object, object> Compile(string source)
        {
            // Compilation is rare (cache misses) and shared environments are not documented as
            // safe to compile into concurrently.
            lock (gate)
            {
                using var reader = new StringReader(source);
                return handlebars.Compile(reader);
            }
        }
    }
}
