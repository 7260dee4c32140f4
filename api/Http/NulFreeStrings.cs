using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace WebhooksApi.Http;

/// <summary>
/// Refuses U+0000 in the text fields of our request types (strings, lists of strings, string
/// maps) and in the URL. PostgreSQL text cannot hold it: before this, a name with "\u0000" was a
/// 500 from the database on PostgreSQL and stored as given on SQLite. A check after reading
/// rather than a string converter: a converter would hide the fields' types from the OpenAPI
/// document.
/// <para>
/// The free-form objects (a contact, an event, variables) are read later, by whoever needs a
/// value. They may hold U+0000 (it stays escaped in the stored JSON and reaches the receiver as
/// sent), except in a contact's id, email and phone, which are columns of their own
/// (<see cref="IdentifierWithNul"/>, checked where a contact is taken). Half of a surrogate pair
/// ("\ud800" alone) is refused anywhere in them: System.Text.Json reads it into a JsonObject but
/// cannot turn it into a string, so whatever read it later threw. So is a name given twice in
/// one object ("email" and "EMAIL" included: the objects compare names ignoring case), which
/// threw as the object read its names. All were 500s.
/// </para>
/// </summary>
internal static class NulFreeStrings
{
    public const string Message = "Text must not contain the NUL character (U+0000).";

    public const string RepeatedNameMessage = "An object holds the same property name twice (names are compared ignoring case, so \"email\" and \"Email\" are one name): keep one.";

    public const string HalfPairMessage = "Text must be valid Unicode: half of a surrogate pair (such as \\ud800 alone) is not a character.";

    /// <summary>A <see cref="IJsonTypeInfoResolver"/> modifier for the API's own types.</summary>
    public static void Modify(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object || typeInfo.Type.Namespace?.StartsWith("WebhooksApi", StringComparison.Ordinal) != true)
        {
            return;
        }

        var texts = typeInfo.Properties
            .Where(p => p.Get is not null && (p.PropertyType == typeof(string) || typeof(IEnumerable<string>).IsAssignableFrom(p.PropertyType) || typeof(IEnumerable<KeyValuePair<string, string>>).IsAssignableFrom(p.PropertyType)
                || typeof(JsonNode).IsAssignableFrom(p.PropertyType)))
            .ToList();
        if (texts.Count == 0)
        {
            return;
        }

        var previous = typeInfo.OnDeserialized;
        typeInfo.OnDeserialized = value =>
        {
            previous?.Invoke(value);
            foreach (var property in texts)
            {
                var problem = property.Get!(value) switch
                {
                    string text => HasNul(text) ? Message : null,
                    IEnumerable<KeyValuePair<string, string>> map => map.Any(e => HasNul(e.Key) || HasNul(e.Value)) ? Message : null,
                    IEnumerable<string> list => list.Any(HasNul) ? Message : null,
                    JsonNode node => Unreadable(node),
                    _ => null,
                };
                if (problem is not null)
                {
                    throw new JsonException($"{problem} '{property.Name}'");
                }
            }
        };
    }

    private static bool HasNul(string? text) => text?.Contains('\0', StringComparison.Ordinal) == true;

    /// <summary>Why <paramref name="node"/> cannot be read (half a surrogate pair, a name given twice), or null when all of it can.</summary>
    internal static string? Unreadable(JsonNode? node)
    {
        try
        {
            ReadEveryString(node);
            return null;
        }
        catch (InvalidOperationException)
        {
            // Half a pair in a value, or in a property name (the object throws as it reads its names).
            return HalfPairMessage;
        }
        catch (ArgumentException)
        {
            // The object reads its names into a dictionary that compares them as the API's JSON
            // options do (ignoring case): "email" and "EMAIL", or one name twice, throw there.
            return RepeatedNameMessage;
        }

        static void ReadEveryString(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (_, value) in o)
                    {
                        ReadEveryString(value);
                    }

                    break;
                case JsonArray a:
                    foreach (var item in a)
                    {
                        ReadEveryString(item);
                    }

                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    // As read from the request its raw bytes are valid UTF-8 (the reader checked),
                    // so only an escape can hide half a pair, and reading that one throws.
                    if (!v.TryGetValue<JsonElement>(out var element) || JsonMarshal.GetRawUtf8Value(element).Contains((byte)'\\'))
                    {
                        _ = v.GetValue<string>();
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// The first of a contact's id, email and phone (any case, as the API reads them) that holds
    /// U+0000, or null. They are stored in columns of their own, which PostgreSQL refuses it in.
    /// </summary>
    public static string? IdentifierWithNul(JsonObject contact)
    {
        foreach (var (key, value) in contact)
        {
            if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String
                && (key.Equals("id", StringComparison.OrdinalIgnoreCase) || key.Equals("email", StringComparison.OrdinalIgnoreCase) || key.Equals("phone", StringComparison.OrdinalIgnoreCase))
                && HasNul(v.GetValue<string>()))
            {
                return key;
            }
        }

        return null;
    }

    /// <summary>The same rule for the path and the query string, which reach database parameters too.</summary>
    public static async Task RefuseInUrl(HttpContext context, Func<Task> next)
    {
        var at = HasNul(context.Request.Path.Value) ? "path"
            : context.Request.Query.FirstOrDefault(q => HasNul(q.Key) || q.Value.Any(HasNul)).Key;
        if (at is null)
        {
            await next();
            return;
        }

        var name = at.Replace("\0", "\\0", StringComparison.Ordinal);
        await Problems.Write(context, Problems.Validation(name, $"{name}: {Message}"));
    }
}
