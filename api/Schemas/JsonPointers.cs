using System.Text;
using Newtonsoft.Json.Linq;
using NJsonSchema.Validation;

namespace WebhooksApi.Schemas;

/// <summary>
/// Turns NJsonSchema's ValidationError.Path into the RFC 6901 JSON pointer a 400 reports.
///
/// NJsonSchema 10.7.2 writes "#/" followed by property names joined with '.' and array indices
/// as "[n]": "#/items[3].contact", "#/[0].hardBounce" (an item of a root array), "#/" for the
/// document itself. Names are not escaped, so "#/a.b" is either {"a.b":…} or {"a":{"b":…}};
/// given the validated document the names are matched against its real keys, longest first,
/// which settles that. Without it (or for a missing property, which has no key to match) a
/// name runs to the next '.' or '['.
/// </summary>
internal static class JsonPointers
{
    public static string FromValidationPath(string? path, JToken? document = null)
    {
        var rest = path ?? string.Empty;
        rest = rest.StartsWith("#/", StringComparison.Ordinal) ? rest[2..] : rest.TrimStart('#');
        var pointer = new StringBuilder();
        var node = document;
        var first = true;
        while (rest.Length > 0)
        {
            // After the first segment a '.' introduces a property and a '[' an index; the
            // first segment has no separator, and a root array's item starts with '['.
            var isIndex = first ? rest[0] == '[' && node is not JObject : rest[0] == '[';
            if (!first && !isIndex && rest[0] == '.')
            {
                rest = rest[1..];
            }

            if (isIndex)
            {
                var close = rest.IndexOf(']', StringComparison.Ordinal);
                var index = rest[1..close];
                pointer.Append('/').Append(index);
                node = node is JArray array && int.TryParse(index, out var i) && i >= 0 && i < array.Count ? array[i] : null;
                rest = rest[(close + 1)..];
            }
            else
            {
                var name = (node as JObject)?.Properties().Select(p => p.Name)
                    .Where(n => rest.StartsWith(n, StringComparison.Ordinal) && (rest.Length == n.Length || rest[n.Length] is '.' or '['))
                    .MaxBy(n => n.Length);
                name ??= rest[..NextSeparator(rest)];
                pointer.Append('/').Append(name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal));
                node = (node as JObject)?.Property(name, StringComparison.Ordinal)?.Value;
                rest = rest[name.Length..];
            }

            first = false;
        }

        return pointer.ToString();
    }

    /// <summary>The errors and, depth first, the errors of the subschemas that failed under them.</summary>
    public static IEnumerable<ValidationError> Flatten(this IEnumerable<ValidationError> errors)
    {
        foreach (var error in errors)
        {
            yield return error;
            if (error is ChildSchemaValidationError child)
            {
                foreach (var nested in child.Errors.SelectMany(e => e.Value).Flatten())
                {
                    yield return nested;
                }
            }
        }
    }

    /// <summary>Every pointer in the error tree, with the kinds reported there.</summary>
    public static ILookup<string, ValidationErrorKind> Pointers(this IEnumerable<ValidationError> errors, JToken document) =>
        errors.Flatten().ToLookup(e => FromValidationPath(e.Path, document), e => e.Kind);

    private static int NextSeparator(string rest)
    {
        // From 1: the name in front of a separator has at least one character.
        var at = rest.Length > 1 ? rest.IndexOfAny(['.', '['], 1) : -1;
        return at < 0 ? rest.Length : at;
    }
}
