using System.Globalization;
using System.Text;
using HandlebarsDotNet;

namespace WebhooksApi.Templates;

/// <summary>
/// A JSON object in the model. Keys are case-insensitive so that the seeds' <c>{{contact.firstname}}</c>
/// and <c>{{contact.firstName}}</c> both resolve; when the input has both spellings the first one wins.
/// It is its own type (not a plain dictionary) so Handlebars picks our descriptor, whose iterator
/// charges the render budget.
/// </summary>
internal sealed class TemplateObject : Dictionary<string, object?>
{
    public TemplateObject()
        : base(StringComparer.OrdinalIgnoreCase)
    {
    }

    public TemplateObject(int capacity)
        : base(capacity, StringComparer.OrdinalIgnoreCase)
    {
    }
}

/// <summary>A JSON array in the model; its own type for the same reason as <see cref="TemplateObject"/>.</summary>
internal sealed class TemplateArray : List<object?>
{
    public TemplateArray()
    {
    }

    public TemplateArray(int capacity)
        : base(capacity)
    {
    }
}

/// <summary>
/// Helper output that is already safe for the template's format (json in a JSON body, xml in an
/// XML body, urlencode in a URL), written without a second round of escaping. Only helpers create
/// it; model data never does, so no input value can reach the output unescaped.
/// </summary>
internal sealed class SafeText(string text)
{
    public string Text { get; } = text;

    public override string ToString() => Text;
}

/// <summary>Turns model values into text the way the helpers and the JSON printer need it.</summary>
internal static class TemplateText
{
    internal static readonly object True = true;
    internal static readonly object False = false;

    [ThreadStatic]
    private static StringBuilder? cachedBuilder;

    /// <summary>Handlebars passes a missing path to helpers as an <see cref="UndefinedBindingResult"/>.</summary>
    public static bool IsMissing(object? value) => value switch
    {
        null => true,
        UndefinedBindingResult => true,
        string s => s.Length == 0,
        SafeText t => t.Text.Length == 0,
        _ => false,
    };

    /// <summary>The value as plain text: missing is empty, booleans are lower-case, objects and arrays are JSON.</summary>
    public static string ToText(object? value) => value switch
    {
        null or UndefinedBindingResult => string.Empty,
        string s => s,
        SafeText t => t.Text,
        bool b => b ? "true" : "false",
        TemplateObject or TemplateArray => ToJson(value),
        double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : string.Empty,
        float f => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : string.Empty,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    /// <summary>The value as a JSON literal: strings quoted, missing as <c>null</c>.</summary>
    public static string ToJson(object? value)
    {
        var builder = cachedBuilder ?? new StringBuilder(256);
        cachedBuilder = null;
        try
        {
            AppendJson(builder, value, 0);
            return builder.ToString();
        }
        finally
        {
            // A huge value would otherwise stay pinned to the thread for good.
            if (builder.Capacity <= 64 * 1024)
            {
                builder.Clear();
                cachedBuilder = builder;
            }
        }
    }

    private static void AppendJson(StringBuilder builder, object? value, int depth)
    {
        if (depth > TemplateModel.MaxDepth)
        {
            throw new TemplateException(TemplateErrorKind.Render, $"A value is nested deeper than {TemplateModel.MaxDepth} levels.");
        }

        switch (value)
        {
            case null or UndefinedBindingResult:
                builder.Append("null");
                break;
            case string s:
                AppendJsonString(builder, s);
                break;
            case SafeText t:
                AppendJsonString(builder, t.Text);
                break;
            case bool b:
                builder.Append(b ? "true" : "false");
                break;
            case double d:
                AppendNumber(builder, double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : null);
                break;
            case float f:
                AppendNumber(builder, float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : null);
                break;
            case long or int or decimal or short or byte or sbyte or ushort or uint or ulong:
                builder.Append(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                break;
            case TemplateObject obj:
                builder.Append('{');
                var first = true;
                foreach (var (key, item) in obj)
                {
                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    AppendJsonString(builder, key);
                    builder.Append(':');
                    AppendJson(builder, item, depth + 1);
                }

                builder.Append('}');
                break;
            case TemplateArray array:
                builder.Append('[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(',');
                    }

                    AppendJson(builder, array[i], depth + 1);
                }

                builder.Append(']');
                break;
            default:
                AppendJsonString(builder, ToText(value));
                break;
        }
    }

    private static void AppendNumber(StringBuilder builder, string? number) => builder.Append(number ?? "null");

    private static void AppendJsonString(StringBuilder builder, string value)
    {
        builder.Append('"');
        var sink = new StringBuilderSink(builder);
        TemplateEscaping.WriteJson(value, ref sink);
        builder.Append('"');
    }
}
