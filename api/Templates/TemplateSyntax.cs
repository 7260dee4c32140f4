using System.Globalization;
using System.Text;

namespace WebhooksApi.Templates;

internal enum TemplateTagKind
{
    Value,
    BlockOpen,
    Else,
    BlockClose,
}

/// <summary>A tag of the user's template: offsets into the original text, end exclusive.</summary>
internal readonly record struct TemplateTag(int Start, int End, TemplateTagKind Kind, string Name);

/// <summary>What the scanner found: an error with its place, or the text to hand to Handlebars.</summary>
internal sealed class TemplateScan
{
    private readonly List<(int Original, int OriginalLength, int Rewritten, int RewrittenLength)> edits = [];

    internal TemplateScan(string original)
    {
        Original = original;
        Source = original;
    }

    public string Original { get; }

    /// <summary>The text Handlebars compiles: the original, with literal braces after a tag rewritten.</summary>
    public string Source { get; private set; }

    public List<TemplateTag> Tags { get; } = [];

    public string? Error { get; private set; }

    /// <summary>Where in <see cref="Original"/> the error is, or -1 when it is about the whole template.</summary>
    public int ErrorOffset { get; private set; } = -1;

    internal TemplateScan Fail(string error, int offset)
    {
        Error = error;
        ErrorOffset = offset;
        return this;
    }

    internal void Rewrite(List<(int Offset, int Length, string Replacement)> replacements)
    {
        if (replacements.Count == 0)
        {
            return;
        }

        var builder = new StringBuilder(Original.Length + (replacements.Count * 16));
        var last = 0;
        foreach (var (offset, length, replacement) in replacements)
        {
            builder.Append(Original, last, offset - last);
            edits.Add((offset, length, builder.Length, replacement.Length));
            builder.Append(replacement);
            last = offset + length;
        }

        builder.Append(Original, last, Original.Length - last);
        Source = builder.ToString();
    }

    /// <summary>Maps an offset in <see cref="Source"/> back to <see cref="Original"/>.</summary>
    public int ToOriginal(int rewritten)
    {
        var delta = 0;
        foreach (var edit in edits)
        {
            if (rewritten < edit.Rewritten)
            {
                break;
            }

            if (rewritten < edit.Rewritten + edit.RewrittenLength)
            {
                return edit.Original;
            }

            delta += edit.RewrittenLength - edit.OriginalLength;
        }

        return Math.Clamp(rewritten - delta, 0, Original.Length);
    }
}

/// <summary>
/// A scan of the template's tags before Handlebars.Net sees it. Handlebars.Net reports some
/// errors without a position (an unclosed block, a stray close) and accepts things we refuse,
/// so this pass finds, with line and column:
/// <list type="bullet">
/// <item>unsafe insertions: <c>{{{triple-stash}}}</c> (and <c>{{&amp;...}}</c>) outside Text templates. The check is
/// deliberately blunt (any <c>{{{</c> anywhere, escaped or in a comment too) so that no difference between
/// this scanner and Handlebars' tokenizer can let one through;</item>
/// <item>partials (<c>{{&gt; name}}</c>, <c>{{#&gt; name}}</c>) and decorators/inline partials (<c>{{*...}}</c>, <c>{{#*inline}}</c>):
/// a template is one self-contained text, with no way to load anything else and no recursion;</item>
/// <item>unknown helpers, also in branches the sample data would not take, and in sub-expressions;</item>
/// <item>block structure: unclosed, mismatched and stray closing tags, misplaced else, nesting depth.</item>
/// </list>
/// It also rewrites a literal <c>}</c> right after a tag (<c>{"items": {{json event.items}}}</c>):
/// Handlebars reads <c>}}}</c> as the end of a triple-stash and refuses the template, which would
/// make the most natural JSON templates fail. The braces become a call to an internal helper that
/// writes them back unchanged.
/// </summary>
internal static class TemplateSyntax
{
    public static TemplateScan Scan(string text, TemplateFormat format, TemplateLimits limits)
    {
        var scan = new TemplateScan(text);
        if (text.Length > limits.MaxTemplateLength)
        {
            return scan.Fail($"The template is {text.Length} characters long; at most {limits.MaxTemplateLength} are allowed.", -1);
        }

        if (format != TemplateFormat.Text && FindUnescapedInsertion(text) is var unsafeAt and >= 0)
        {
            return scan.Fail(
                $"'{{{{{{' (triple-stash) would insert a value without escaping, which a {format} template does not allow: "
                + (format == TemplateFormat.Json
                    ? "write \"{{value}}\" inside quotes (escaped as a JSON string), or {{json value}} to insert a JSON value."
                    : "write {{value}}, which is escaped for " + format + "."),
                unsafeAt);
        }

        var stack = new List<OpenBlock>();
        var braces = new List<(int Offset, int Length, string Replacement)>();
        var n = text.Length;
        var i = 0;
        while (true)
        {
            var open = text.IndexOf("{{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                break;
            }

            if (IsEscaped(text, open))
            {
                // "\{{" is literal text in Handlebars; so is what follows, up to the next "{{".
                i = open + 2;
                continue;
            }

            var p = open + 2;
            if (p < n && text[p] == '~')
            {
                p++;
            }

            int after;
            if (p < n && text[p] == '!')
            {
                var commentEnd = FindCommentEnd(text, p);
                if (commentEnd < 0)
                {
                    return scan.Fail("This comment is not closed: '}}' is missing.", open);
                }

                after = commentEnd;
            }
            else
            {
                var triple = p < n && text[p] == '{';
                if (triple)
                {
                    p++;
                }

                var close = FindTagEnd(text, p, out var problem);
                if (close < 0)
                {
                    return scan.Fail(problem!, open);
                }

                after = close + 2;
                if (triple)
                {
                    if (after >= n || text[after] != '}')
                    {
                        return scan.Fail("A tag opened with '{{{' must be closed with '}}}'.", open);
                    }

                    after++;
                }

                var content = text.AsSpan(p, close - p);
                if (content.EndsWith("~", StringComparison.Ordinal))
                {
                    content = content[..^1];
                }

                if (CheckTag(scan, content.Trim(), open, after, triple, stack, limits) is { } failed)
                {
                    return failed;
                }
            }

            i = after;
            if (after < n && text[after] == '}')
            {
                var run = 1;
                while (after + run < n && text[after + run] == '}')
                {
                    run++;
                }

                braces.Add((after, run, "{{" + TemplateHelpers.BracesHelper + " " + run.ToString(CultureInfo.InvariantCulture) + "}}"));
                i = after + run;
            }
        }

        if (stack.Count > 0)
        {
            var unclosed = stack[^1];
            return scan.Fail($"'{{{{#{unclosed.Name}}}}}' is never closed: add '{{{{/{unclosed.Name}}}}}'.", unclosed.Offset);
        }

        scan.Rewrite(braces);
        return scan;
    }

    /// <summary>1-based line and column of an offset.</summary>
    public static (int Line, int Column) Locate(string text, int offset)
    {
        offset = Math.Clamp(offset, 0, text.Length);
        var line = 1;
        var lineStart = 0;
        for (var k = text.IndexOf('\n'); k >= 0 && k < offset; k = text.IndexOf('\n', k + 1))
        {
            line++;
            lineStart = k + 1;
        }

        return (line, offset - lineStart + 1);
    }

    /// <summary>Offset of a 0-based line and column, clamped to the text.</summary>
    public static int OffsetOf(string text, int line, int column)
    {
        var start = 0;
        for (var l = 0; l < line; l++)
        {
            var k = text.IndexOf('\n', start);
            if (k < 0)
            {
                return text.Length;
            }

            start = k + 1;
        }

        return Math.Min(start + Math.Max(column, 0), text.Length);
    }

    private static TemplateScan? CheckTag(TemplateScan scan, ReadOnlySpan<char> tag, int open, int after, bool triple, List<OpenBlock> stack, TemplateLimits limits)
    {
        if (triple)
        {
            return CheckValue(scan, tag, open, after, limits);
        }

        if (tag.IsEmpty)
        {
            return scan.Fail("Empty tag '{{}}'.", open);
        }

        switch (tag[0])
        {
            case '>':
                return scan.Fail("Partials ('{{> name}}') are not supported: a template is self-contained.", open);
            case '*':
                return scan.Fail("Decorators ('{{* ...}}') are not supported.", open);
            case '&':
                return scan.Fail("'{{& ...}}' is not supported: write {{value}}.", open);
            case '#':
                return CheckBlockOpen(scan, tag[1..], open, after, inverse: false, stack, limits);
            case '^':
                return CheckBlockOpen(scan, tag[1..], open, after, inverse: true, stack, limits);
            case '/':
                return CheckBlockClose(scan, tag[1..].Trim(), open, after, stack);
        }

        var name = SplitName(tag, out var args);
        if (name.SequenceEqual("else"))
        {
            return CheckElse(scan, args, open, after, stack, limits);
        }

        return CheckValue(scan, tag, open, after, limits);
    }

    private static TemplateScan? CheckValue(TemplateScan scan, ReadOnlySpan<char> tag, int open, int after, TemplateLimits limits)
    {
        var name = SplitName(tag, out var args);
        var helper = name.ToString();
        if (TemplateHelpers.BlockHelpers.Contains(helper))
        {
            return scan.Fail($"'{helper}' is a block helper: write '{{{{#{helper} ...}}}}' ... '{{{{/{helper}}}}}'.", open);
        }

        if (!args.IsEmpty)
        {
            if (!TemplateHelpers.ValueHelpers.Contains(helper))
            {
                return scan.Fail($"Unknown helper '{helper}'. Available: default, json, urlencode, xml, formatDate, lookup; blocks: #if, #unless, #each, #with.", open);
            }

            if (CheckSubexpressions(scan, args, open, limits) is { } failed)
            {
                return failed;
            }
        }
        else if (name.IsEmpty && CheckSubexpressions(scan, tag, open, limits) is { } failed)
        {
            return failed;
        }

        scan.Tags.Add(new(open, after, TemplateTagKind.Value, helper));
        return null;
    }

    private static TemplateScan? CheckBlockOpen(TemplateScan scan, ReadOnlySpan<char> tag, int open, int after, bool inverse, List<OpenBlock> stack, TemplateLimits limits)
    {
        var sigil = inverse ? "^" : "#";
        tag = tag.TrimStart();
        if (tag.StartsWith(">"))
        {
            return scan.Fail("Partial blocks ('{{#> name}}') are not supported: a template is self-contained.", open);
        }

        if (tag.StartsWith("*"))
        {
            return scan.Fail("Inline partials and decorators ('{{#* ...}}') are not supported: a template is self-contained.", open);
        }

        var nameSpan = SplitName(tag.Trim(), out var args);
        var name = nameSpan.ToString();
        if (name.Length == 0)
        {
            return scan.Fail(inverse ? "'{{^}}' is not supported: write '{{else}}'." : "A block needs a name, as in '{{#if contact.email}}'.", open);
        }

        if (TemplateHelpers.BlockHelpers.Contains(name))
        {
            if (args.IsEmpty)
            {
                return scan.Fail($"'{{{{{sigil}{name}}}}}' needs a value, as in '{{{{{sigil}{name} contact.email}}}}'.", open);
            }
        }
        else if (TemplateHelpers.ValueHelpers.Contains(name))
        {
            return scan.Fail($"'{name}' is not a block helper: write '{{{{{name} ...}}}}' without '{sigil}'.", open);
        }
        else if (!args.IsEmpty)
        {
            return scan.Fail($"Unknown block helper '{name}'. Available: #if, #unless, #each, #with.", open);
        }

        if (CheckSubexpressions(scan, args, open, limits) is { } failed)
        {
            return failed;
        }

        if (stack.Count >= limits.MaxBlockDepth)
        {
            return scan.Fail($"Blocks are nested more than {limits.MaxBlockDepth} deep.", open);
        }

        stack.Add(new OpenBlock(name, open, SawElse: false));
        scan.Tags.Add(new(open, after, TemplateTagKind.BlockOpen, name));
        return null;
    }

    private static TemplateScan? CheckBlockClose(TemplateScan scan, ReadOnlySpan<char> tag, int open, int after, List<OpenBlock> stack)
    {
        var name = SplitName(tag, out var rest).ToString();
        if (!rest.IsEmpty)
        {
            return scan.Fail($"A closing tag holds only the block's name: '{{{{/{name}}}}}'.", open);
        }

        if (stack.Count == 0)
        {
            return scan.Fail($"'{{{{/{name}}}}}' closes a block that was never opened.", open);
        }

        var top = stack[^1];
        if (!string.Equals(top.Name, name, StringComparison.Ordinal))
        {
            var (line, column) = Locate(scan.Original, top.Offset);
            return scan.Fail($"'{{{{/{name}}}}}' does not match '{{{{#{top.Name}}}}}' opened at line {line}, column {column}.", open);
        }

        stack.RemoveAt(stack.Count - 1);
        scan.Tags.Add(new(open, after, TemplateTagKind.BlockClose, name));
        return null;
    }

    private static TemplateScan? CheckElse(TemplateScan scan, ReadOnlySpan<char> args, int open, int after, List<OpenBlock> stack, TemplateLimits limits)
    {
        if (stack.Count == 0)
        {
            return scan.Fail("'{{else}}' must be inside a block such as '{{#if ...}}'.", open);
        }

        var top = stack[^1];
        if (top.SawElse)
        {
            return scan.Fail($"The '{{{{#{top.Name}}}}}' block already has an '{{{{else}}}}'.", open);
        }

        if (args.IsEmpty)
        {
            stack[^1] = top with { SawElse = true };
        }
        else
        {
            // {{else if x}}: a chained block helper sharing the outer block's closing tag.
            var chained = SplitName(args, out var chainedArgs);
            var name = chained.ToString();
            if (!TemplateHelpers.BlockHelpers.Contains(name))
            {
                return scan.Fail($"Unknown block helper '{name}' after 'else'. Available: if, unless, each, with.", open);
            }

            if (chainedArgs.IsEmpty)
            {
                return scan.Fail($"'{{{{else {name}}}}}' needs a value, as in '{{{{else {name} contact.email}}}}'.", open);
            }

            if (CheckSubexpressions(scan, chainedArgs, open, limits) is { } failed)
            {
                return failed;
            }
        }

        scan.Tags.Add(new(open, after, TemplateTagKind.Else, "else"));
        return null;
    }

    /// <summary>Every <c>(name ...)</c> must call a known helper; parentheses must balance and not nest too deep.</summary>
    private static TemplateScan? CheckSubexpressions(TemplateScan scan, ReadOnlySpan<char> args, int open, TemplateLimits limits)
    {
        var depth = 0;
        for (var k = 0; k < args.Length; k++)
        {
            var c = args[k];
            if (c is '"' or '\'')
            {
                var end = SkipQuoted(args, k);
                if (end < 0)
                {
                    return scan.Fail("A string in this tag is not closed.", open);
                }

                k = end;
            }
            else if (c == '[')
            {
                var end = args[(k + 1)..].IndexOf(']');
                if (end < 0)
                {
                    return scan.Fail("A '[' segment in this tag is not closed.", open);
                }

                k += end + 1;
            }
            else if (c == '(')
            {
                depth++;
                if (depth > limits.MaxSubexpressionDepth)
                {
                    return scan.Fail($"Sub-expressions are nested more than {limits.MaxSubexpressionDepth} deep.", open);
                }

                var name = SplitName(args[(k + 1)..].TrimStart(), out _).ToString();
                if (!TemplateHelpers.ValueHelpers.Contains(name))
                {
                    return scan.Fail(name.Length == 0 ? "Empty sub-expression '()'." : $"Unknown helper '{name}' in a sub-expression. Available: default, json, urlencode, xml, formatDate, lookup.", open);
                }
            }
            else if (c == '=' && args[(k + 1)..].TrimStart() is var value && (value.IsEmpty || value[0] == ')'))
            {
                return scan.Fail("A hash argument ('name=value') has no value.", open);
            }
            else if (c == ')')
            {
                depth--;
                if (depth < 0)
                {
                    return scan.Fail("This tag has a ')' without a matching '('.", open);
                }
            }
        }

        return depth == 0 ? null : scan.Fail("A '(' in this tag is not closed.", open);
    }

    /// <summary>The first token (a helper name or path, with any [literal segments] and quoted strings kept whole) and the rest.</summary>
    private static ReadOnlySpan<char> SplitName(ReadOnlySpan<char> tag, out ReadOnlySpan<char> args)
    {
        var k = 0;
        while (k < tag.Length)
        {
            var c = tag[k];
            if (char.IsWhiteSpace(c) || c is '(' or ')')
            {
                break;
            }

            if (c is '"' or '\'')
            {
                var end = SkipQuoted(tag, k);
                k = end < 0 ? tag.Length : end + 1;
                continue;
            }

            if (c == '[')
            {
                var end = tag[(k + 1)..].IndexOf(']');
                k = end < 0 ? tag.Length : k + end + 2;
                continue;
            }

            k++;
        }

        args = tag[k..].Trim();
        return tag[..k];
    }

    /// <summary>Index of the closing quote of the string starting at <paramref name="start"/>, honouring backslash escapes.</summary>
    private static int SkipQuoted(ReadOnlySpan<char> text, int start)
    {
        var quote = text[start];
        for (var k = start + 1; k < text.Length; k++)
        {
            if (text[k] == '\\')
            {
                k++;
            }
            else if (text[k] == quote)
            {
                return k;
            }
        }

        return -1;
    }

    /// <summary>Index of the "}}" closing a tag whose content starts at <paramref name="start"/>.</summary>
    private static int FindTagEnd(string text, int start, out string? problem)
    {
        problem = null;
        for (var q = start; q < text.Length; q++)
        {
            var c = text[q];
            if (c is '"' or '\'')
            {
                var end = SkipQuoted(text, q);
                if (end < 0)
                {
                    problem = "A string in this tag is not closed.";
                    return -1;
                }

                q = end;
            }
            else if (c == '[')
            {
                var end = text.IndexOf(']', q + 1);
                if (end < 0)
                {
                    problem = "A '[' segment in this tag is not closed.";
                    return -1;
                }

                q = end;
            }
            else if (c == '{' && q + 1 < text.Length && text[q + 1] == '{')
            {
                problem = "This tag is not closed: '}}' is missing before the next '{{'.";
                return -1;
            }
            else if (c == '}' && q + 1 < text.Length && text[q + 1] == '}')
            {
                return q;
            }
        }

        problem = "This tag is not closed: '}}' is missing.";
        return -1;
    }

    /// <summary>Offset just after a comment starting at <paramref name="bang"/> ('!'), or -1.</summary>
    private static int FindCommentEnd(string text, int bang)
    {
        if (text.AsSpan(bang).StartsWith("!--", StringComparison.Ordinal))
        {
            for (var k = text.IndexOf("}}", bang + 3, StringComparison.Ordinal); k >= 0; k = text.IndexOf("}}", k + 1, StringComparison.Ordinal))
            {
                var body = text.AsSpan(bang + 3, k - bang - 3);
                if (body.EndsWith("--", StringComparison.Ordinal) || body.EndsWith("--~", StringComparison.Ordinal))
                {
                    return k + 2;
                }
            }

            return -1;
        }

        var close = text.IndexOf("}}", bang, StringComparison.Ordinal);
        return close < 0 ? -1 : close + 2;
    }

    private static bool IsEscaped(string text, int open)
    {
        var backslashes = 0;
        for (var k = open - 1; k >= 0 && text[k] == '\\'; k--)
        {
            backslashes++;
        }

        return backslashes % 2 == 1;
    }

    /// <summary>Offset of the first "{{{", "{{~{", "{{&amp;" or "{{~&amp;" anywhere in the text, or -1.</summary>
    private static int FindUnescapedInsertion(string text)
    {
        for (var k = text.IndexOf("{{", StringComparison.Ordinal); k >= 0; k = text.IndexOf("{{", k + 1, StringComparison.Ordinal))
        {
            var p = k + 2;
            if (p < text.Length && text[p] == '~')
            {
                p++;
            }

            if (p < text.Length && text[p] is '{' or '&')
            {
                return k;
            }
        }

        return -1;
    }

    private readonly record struct OpenBlock(string Name, int Offset, bool SawElse);
}
