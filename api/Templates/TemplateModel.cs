using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace WebhooksApi.Templates;

/// <summary>
/// What merge tags can read: <c>contact</c>, <c>event</c>, <c>variables</c>, <c>account</c> (id, name)
/// and <c>webhook</c> (id, timestamp). The JSON input is converted once into case-insensitive
/// dictionaries, lists and plain values (string, long, decimal, double, bool, null): Handlebars.Net
/// reads dictionaries fastest, and the conversion is where key lookup becomes case-insensitive.
/// A model is immutable once built and may be rendered by many templates, on many threads.
/// </summary>
internal sealed class TemplateModel
{
    /// <summary>Deeper input is refused; System.Text.Json's own parser default is the same.</summary>
    public const int MaxDepth = 64;

    private TemplateModel(TemplateObject root) => Root = root;

    /// <summary>The model used to check templates at save time.</summary>
    public static TemplateModel Sample { get; } = Create(
        new JsonObject
        {
            ["id"] = "54321",
            ["email"] = "john.doe@example.org",
            ["phone"] = "+15555550123",
            ["firstName"] = "John",
            ["lastName"] = "Doe",
        },
        new JsonObject
        {
            ["orderId"] = "A-1001",
            ["total"] = 99.5m,
        },
        new JsonObject(),
        "00000000-0000-0000-0000-000000000001",
        "Sample account",
        "00000000-0000-0000-0000-000000000002",
        new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));

    /// <summary>The root object handed to Handlebars.</summary>
    internal TemplateObject Root { get; }

    /// <summary>Builds a model from nodes (null parts become empty objects, so their tags render empty).</summary>
    public static TemplateModel Create(
        JsonNode? contact,
        JsonNode? @event,
        JsonNode? variables,
        string accountId,
        string accountName,
        string webhookId,
        DateTimeOffset timestamp) =>
        Build(FromNode(contact, 1) ?? new TemplateObject(), FromNode(@event, 1) ?? new TemplateObject(), FromNode(variables, 1) ?? new TemplateObject(), accountId, accountName, webhookId, timestamp);

    /// <summary>Builds a model from elements (undefined or null elements become empty objects).</summary>
    public static TemplateModel Create(
        JsonElement contact,
        JsonElement @event,
        JsonElement variables,
        string accountId,
        string accountName,
        string webhookId,
        DateTimeOffset timestamp) =>
        Build(FromElement(contact, 1) ?? new TemplateObject(), FromElement(@event, 1) ?? new TemplateObject(), FromElement(variables, 1) ?? new TemplateObject(), accountId, accountName, webhookId, timestamp);

    private static TemplateModel Build(object contact, object @event, object variables, string accountId, string accountName, string webhookId, DateTimeOffset timestamp)
    {
        var root = new TemplateObject(5)
        {
            ["contact"] = contact,
            ["event"] = @event,
            ["variables"] = variables,
            ["account"] = new TemplateObject(2) { ["id"] = accountId, ["name"] = accountName },
            ["webhook"] = new TemplateObject(2)
            {
                ["id"] = webhookId,
                ["timestamp"] = timestamp.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            },
        };
        return new TemplateModel(root);
    }

    private static object? FromElement(JsonElement element, int depth)
    {
        CheckDepth(depth);
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new TemplateObject();
                foreach (var property in element.EnumerateObject())
                {
                    obj.TryAdd(property.Name, FromElement(property.Value, depth + 1));
                }

                return obj;
            case JsonValueKind.Array:
                var array = new TemplateArray(element.GetArrayLength());
                foreach (var item in element.EnumerateArray())
                {
                    array.Add(FromElement(item, depth + 1));
                }

                return array;
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                return Number(element);
            case JsonValueKind.True:
                return TemplateText.True;
            case JsonValueKind.False:
                return TemplateText.False;
            default:
                return null;
        }
    }

    /// <summary>
    /// Integers stay exact as long; other numbers become decimal, which prints what was sent
    /// (99.5 stays "99.5", 1.50 stays "1.50") up to its 28-29 significant digits, where double
    /// would print 0.1 + 0.2 noise and drop trailing zeros; beyond decimal's range, double;
    /// beyond that the literal text, so nothing turns into infinity.
    /// </summary>
    private static object Number(JsonElement element)
    {
        if (element.TryGetInt64(out var integer))
        {
            return integer;
        }

        if (element.TryGetDecimal(out var exact))
        {
            return exact;
        }

        if (element.TryGetDouble(out var approximate) && double.IsFinite(approximate))
        {
            return approximate;
        }

        return element.GetRawText();
    }

    private static object? FromNode(JsonNode? node, int depth)
    {
        CheckDepth(depth);
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var result = new TemplateObject(obj.Count);
                foreach (var (name, value) in obj)
                {
                    result.TryAdd(name, FromNode(value, depth + 1));
                }

                return result;
            case JsonArray array:
                var list = new TemplateArray(array.Count);
                foreach (var item in array)
                {
                    list.Add(FromNode(item, depth + 1));
                }

                return list;
            case JsonValue value:
                return FromValue(value, depth);
            default:
                return null;
        }
    }

    private static object? FromValue(JsonValue value, int depth)
    {
        // Parsed nodes wrap a JsonElement; nodes built in code wrap a CLR value.
        if (value.TryGetValue(out JsonElement element))
        {
            return FromElement(element, depth);
        }

        if (value.TryGetValue(out string? text))
        {
            return text;
        }

        if (value.TryGetValue(out bool flag))
        {
            return flag ? TemplateText.True : TemplateText.False;
        }

        if (value.TryGetValue(out long integer))
        {
            return integer;
        }

        if (value.TryGetValue(out int small))
        {
            return (long)small;
        }

        if (value.TryGetValue(out decimal exact))
        {
            return exact;
        }

        // Anything else (dates, doubles, enums...) goes through its JSON form, as it would on the wire.
        using var document = JsonDocument.Parse(value.ToJsonString());
        return FromElement(document.RootElement, depth);
    }

    private static void CheckDepth(int depth)
    {
        if (depth > MaxDepth)
        {
            throw new TemplateException(TemplateErrorKind.Render, $"The input data is nested deeper than {MaxDepth} levels.");
        }
    }
}
