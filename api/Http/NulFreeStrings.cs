using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace WebhooksApi.Http;

/// <summary>
/// Refuses U+0000 in the text fields of our request types (strings, lists of strings, string
/// maps) and in the URL. PostgreSQL text cannot hold it: before this, a name with "\u0000" was a
/// 500 from the database on PostgreSQL and stored as given on SQLite. A check after reading
/// rather than a string converter: a converter would hide the fields' types from the OpenAPI
/// document.
/// </summary>
internal static class NulFreeStrings
{
    public const string Message = "Text must not contain the NUL character (U+0000).";

    /// <summary>A <see cref="IJsonTypeInfoResolver"/> modifier for the API's own types.</summary>
    public static void Modify(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object || typeInfo.Type.Namespace?.StartsWith("WebhooksApi", StringComparison.Ordinal) != true)
        {
            return;
        }

        var texts = typeInfo.Properties
            .Where(p => p.Get is not null && (p.PropertyType == typeof(string) || typeof(IEnumerable<string>).IsAssignableFrom(p.PropertyType) || typeof(IEnumerable<KeyValuePair<string, string>>).IsAssignableFrom(p.PropertyType)))
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
                var hasNul = property.Get!(value) switch
                {
                    string text => HasNul(text),
                    IEnumerable<KeyValuePair<string, string>> map => map.Any(e => HasNul(e.Key) || HasNul(e.Value)),
                    IEnumerable<string> list => list.Any(HasNul),
                    _ => false,
                };
                if (hasNul)
                {
                    throw new JsonException($"{Message} '{property.Name}'");
                }
            }
        };
    }

    private static bool HasNul(string? text) => text?.Contains('\0', StringComparison.Ordinal) == true;

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
