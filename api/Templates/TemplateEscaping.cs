using System.Buffers;
using System.Text;
using HandlebarsDotNet;

namespace WebhooksApi.Templates;

/// <summary>Where escaped text goes; a struct so the escapers run without allocating a writer.</summary>
internal interface ICharSink
{
    void Append(ReadOnlySpan<char> text);

    void Append(char c);
}

internal readonly struct TextWriterSink(TextWriter writer) : ICharSink
{
    public void Append(ReadOnlySpan<char> text) => writer.Write(text);

    public void Append(char c) => writer.Write(c);
}

internal readonly struct StringBuilderSink(StringBuilder builder) : ICharSink
{
    public void Append(ReadOnlySpan<char> text) => builder.Append(text);

    public void Append(char c) => builder.Append(c);
}

/// <summary>
/// The per-format escapers. Each scans for the few characters that matter and copies the runs
/// between them unchanged, so a clean value is written in one call without allocating.
/// </summary>
internal static class TemplateEscaping
{
    // JSON: quote, backslash, C0 controls (invalid raw in a string), U+2028/2029 (line breaks to
    // JavaScript parsers) and surrogates (checked for pairing: a lone one becomes a \u escape so
    // the body stays valid UTF-8). '<' and '>' stay as they are: the body is read by webhook
    // consumers, not embedded in HTML, and escaping them would make payloads harder to read.
    private static readonly SearchValues<char> JsonSpecial = SearchValues.Create(
        Range('\u0000', '\u001F') + "\"\\\u2028\u2029" + Range('\uD800', '\uDFFF'));

    // XML 1.0: the five markup characters, plus tab/CR/LF (written as character references so
    // attribute-value normalisation cannot change them), plus what XML 1.0 cannot carry at all.
    private static readonly SearchValues<char> XmlSpecial = SearchValues.Create(
        Range('\u0000', '\u001F') + "&<>\"'\uFFFE\uFFFF" + Range('\uD800', '\uDFFF'));

    // RFC 3986 unreserved characters: everything else is percent-encoded, as Uri.EscapeDataString does.
    private static readonly SearchValues<char> UrlUnreserved = SearchValues.Create(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");

    // Header values: C0 controls (CR and LF above all), DEL, C1 controls and the Unicode line and
    // paragraph separators. Removing them means no value can end a header line or start another.
    private static readonly SearchValues<char> HeaderSpecial = SearchValues.Create(
        Range('\u0000', '\u001F') + Range('\u007F', '\u009F') + "\u2028\u2029");

    public static void WriteJson<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ICharSink
    {
        Span<char> escape = stackalloc char[6];
        while (true)
        {
            var i = text.IndexOfAny(JsonSpecial);
            if (i < 0)
            {
                sink.Append(text);
                return;
            }

            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sink.Append(text[..(i + 2)]);
                text = text[(i + 2)..];
                continue;
            }

            sink.Append(text[..i]);
            switch (c)
            {
                case '"': sink.Append("\\\""); break;
                case '\\': sink.Append("\\\\"); break;
                case '\n': sink.Append("\\n"); break;
                case '\r': sink.Append("\\r"); break;
                case '\t': sink.Append("\\t"); break;
                case '\b': sink.Append("\\b"); break;
                case '\f': sink.Append("\\f"); break;
                default: sink.Append(UnicodeEscape(c, escape)); break;
            }

            text = text[(i + 1)..];
        }
    }

    public static void WriteXml<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ICharSink
    {
        while (true)
        {
            var i = text.IndexOfAny(XmlSpecial);
            if (i < 0)
            {
                sink.Append(text);
                return;
            }

            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sink.Append(text[..(i + 2)]);
                text = text[(i + 2)..];
                continue;
            }

            sink.Append(text[..i]);
            switch (c)
            {
                case '&': sink.Append("&amp;"); break;
                case '<': sink.Append("&lt;"); break;
                case '>': sink.Append("&gt;"); break;
                case '"': sink.Append("&quot;"); break;
                case '\'': sink.Append("&apos;"); break;
                case '\t': sink.Append("&#x9;"); break;
                case '\n': sink.Append("&#xA;"); break;
                case '\r': sink.Append("&#xD;"); break;
                default: break; // not representable in XML 1.0, not even as a character reference: dropped
            }

            text = text[(i + 1)..];
        }
    }

    public static void WriteUrl<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ICharSink
    {
        if (!text.ContainsAnyExcept(UrlUnreserved))
        {
            sink.Append(text);
            return;
        }

        sink.Append(Uri.EscapeDataString(text));
    }

    public static void WriteHeader<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ICharSink
    {
        while (true)
        {
            var i = text.IndexOfAny(HeaderSpecial);
            if (i < 0)
            {
                sink.Append(text);
                return;
            }

            sink.Append(text[..i]);
            text = text[(i + 1)..];
        }
    }

    public static string Json(string text) => Escape(text, TemplateFormat.Json);

    public static string Xml(string text) => Escape(text, TemplateFormat.Xml);

    public static string Url(string text) => Escape(text, TemplateFormat.Url);

    public static string Header(string text) => Escape(text, TemplateFormat.Header);

    public static string Escape(string text, TemplateFormat format)
    {
        var builder = new StringBuilder(text.Length + 16);
        var sink = new StringBuilderSink(builder);
        Write(format, text, ref sink);
        return builder.ToString();
    }

    public static void Write<TSink>(TemplateFormat format, ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ICharSink
    {
        switch (format)
        {
            case TemplateFormat.Json: WriteJson(text, ref sink); break;
            case TemplateFormat.Xml: WriteXml(text, ref sink); break;
            case TemplateFormat.Url: WriteUrl(text, ref sink); break;
            case TemplateFormat.Header: WriteHeader(text, ref sink); break;
            default: sink.Append(text); break;
        }
    }

    private static ReadOnlySpan<char> UnicodeEscape(char c, Span<char> buffer)
    {
        const string Hex = "0123456789abcdef";
        buffer[0] = '\\';
        buffer[1] = 'u';
        buffer[2] = Hex[(c >> 12) & 0xF];
        buffer[3] = Hex[(c >> 8) & 0xF];
        buffer[4] = Hex[(c >> 4) & 0xF];
        buffer[5] = Hex[c & 0xF];
        return buffer;
    }

    private static string Range(char first, char last)
    {
        var chars = new char[last - first + 1];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)(first + i);
        }

        return new string(chars);
    }
}

/// <summary>
/// The hook into Handlebars.Net: the configuration's <see cref="ITextEncoder"/> is called for every
/// value a <c>{{double-stash}}</c> writes (template text and <see cref="SafeText"/> bypass it).
/// One instance per format, each bound to its own Handlebars environment.
/// </summary>
internal sealed class FormatEncoder(TemplateFormat format) : ITextEncoder
{
    public TemplateFormat Format { get; } = format;

    public void Encode(string? text, TextWriter target)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var sink = new TextWriterSink(target);
        TemplateEscaping.Write(Format, text, ref sink);
    }

    public void Encode(StringBuilder? text, TextWriter target)
    {
        var sink = new TextWriterSink(target);
        if (text is null || text.Length == 0)
        {
            return;
        }

        // Chunks may split a surrogate pair, which the JSON and URL escapers must see whole.
        var buffer = ArrayPool<char>.Shared.Rent(text.Length);
        try
        {
            text.CopyTo(0, buffer, text.Length);
            TemplateEscaping.Write(Format, buffer.AsSpan(0, text.Length), ref sink);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    public void Encode<T>(T? text, TextWriter target)
        where T : IEnumerator<char>
    {
        if (text is null)
        {
            return;
        }

        var buffer = ArrayPool<char>.Shared.Rent(256);
        var length = 0;
        try
        {
            while (text.MoveNext())
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<char>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<char>.Shared.Return(buffer);
                    buffer = bigger;
                }

                buffer[length++] = text.Current;
            }

            var sink = new TextWriterSink(target);
            TemplateEscaping.Write(Format, buffer.AsSpan(0, length), ref sink);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
