using System.Globalization;
using HandlebarsDotNet;

namespace WebhooksApi.Templates;

/// <summary>
/// The helpers templates may call, besides Handlebars' own if, unless, each, with and lookup.
/// Each returns its result instead of writing it, so it also works as a sub-expression
/// (<c>{{urlencode (default contact.firstName "there")}}</c>). A result is escaped for the
/// template's format like any value, except where the helper's own encoding already is that
/// format's (json in a JSON body, xml in XML, urlencode in a URL): that result is
/// <see cref="SafeText"/>, written as is, so it is not escaped twice. Helpers never throw on bad
/// input: a template must not fail for one contact's odd data.
/// </summary>
internal static class TemplateHelpers
{
    /// <summary>Helpers usable inline and in sub-expressions. Handlebars.Net resolves helper names case-insensitively.</summary>
    public static readonly IReadOnlySet<string> ValueHelpers = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "default", "json", "urlencode", "xml", "formatDate", "lookup",
    };

    /// <summary>Built-in block helpers; each needs an argument.</summary>
    public static readonly IReadOnlySet<string> BlockHelpers = new HashSet<string>(StringComparer.Ordinal)
    {
        "if", "unless", "each", "with",
    };

    /// <summary>
    /// Internal helper the compiler emits for a literal <c>}</c> right after a tag (see
    /// <see cref="TemplateSyntax"/>); the scanner refuses it in user templates since it is not in
    /// <see cref="ValueHelpers"/>.
    /// </summary>
    public const string BracesHelper = "_braces";

    public static void Register(IHandlebars handlebars, TemplateFormat format)
    {
        handlebars.RegisterHelper("default", (Context _, Arguments args) => Default(args));
        handlebars.RegisterHelper("json", (Context _, Arguments args) => Produce(TemplateText.ToJson(First(args)), format == TemplateFormat.Json));
        handlebars.RegisterHelper("urlencode", (Context _, Arguments args) => Produce(TemplateEscaping.Url(TemplateText.ToText(First(args))), format == TemplateFormat.Url));
        handlebars.RegisterHelper("xml", (Context _, Arguments args) => Produce(TemplateEscaping.Xml(TemplateText.ToText(First(args))), format == TemplateFormat.Xml));
        handlebars.RegisterHelper("formatDate", (Context _, Arguments args) => Produce(FormatDate(First(args), args.Length > 1 ? args[1] : null), safe: false));
        handlebars.RegisterHelper(BracesHelper, (Context _, Arguments args) => Braces(args));
    }

    /// <summary>The first argument that is not missing, null or empty; empty when all are.</summary>
    public static object? Default(Arguments args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (!TemplateText.IsMissing(args[i]))
            {
                return args[i];
            }
        }

        return string.Empty;
    }

    /// <summary>
    /// An ISO 8601 date or date-time (offset kept; no offset means UTC) in a .NET format.
    /// Anything else, or a bad format string, gives the value back unchanged.
    /// </summary>
    public static string FormatDate(object? value, object? format)
    {
        var text = TemplateText.ToText(value);
        var pattern = TemplateText.ToText(format);
        if (text.Length == 0 || pattern.Length == 0)
        {
            return text;
        }

        if (!LooksIso(text)
            || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            return text;
        }

        try
        {
            return date.ToString(pattern, CultureInfo.InvariantCulture);
        }
        catch (FormatException)
        {
            return text;
        }
    }

    private static SafeText Braces(Arguments args)
    {
        var count = args.Length > 0 && int.TryParse(TemplateText.ToText(args[0]), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 1;
        return new SafeText(new string('}', Math.Clamp(count, 1, 1024 * 1024)));
    }

    private static object? First(Arguments args) => args.Length > 0 ? args[0] : null;

    private static object Produce(string text, bool safe)
    {
        RenderBudget.Current?.HelperOutput(text.Length);
        return safe ? new SafeText(text) : text;
    }

    /// <summary>DateTimeOffset.TryParse alone also takes "01/02/2026" and "Jan 2"; ISO input starts yyyy-MM-dd.</summary>
    private static bool LooksIso(string text) =>
        text.Length >= 10
        && char.IsAsciiDigit(text[0]) && char.IsAsciiDigit(text[1]) && char.IsAsciiDigit(text[2]) && char.IsAsciiDigit(text[3])
        && text[4] == '-' && char.IsAsciiDigit(text[5]) && char.IsAsciiDigit(text[6])
        && text[7] == '-' && char.IsAsciiDigit(text[8]) && char.IsAsciiDigit(text[9])
        && (text.Length == 10 || text[10] is 'T' or 't' or ' ');
}
