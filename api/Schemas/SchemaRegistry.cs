using System.Numerics;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using NJsonSchema;
using NJsonSchema.Validation;

namespace WebhooksApi.Schemas;

/// <summary>
/// The JSON Schemas in schemas/ (copied beside the app), loaded once and shared. They are the
/// same files partners read, so what ingest accepts is exactly what the documents promise.
/// </summary>
internal sealed class SchemaRegistry
{
    public const string ActivityEvent = "activity-event.schema.json";
    public const string WorkflowExecution = "workflow-execution.schema.json";

    private readonly Lazy<Task<JsonSchema>> _activityEvent = new(() => LoadAsync(ActivityEvent));

    public Task<JsonSchema> ActivityEventAsync() => _activityEvent.Value;

    /// <summary>
    /// FromFileAsync, not FromJsonAsync: NJsonSchema resolves a relative $ref against the file's
    /// path (it ignores $id), so a schema read from a string cannot follow its references.
    /// </summary>
    private static Task<JsonSchema> LoadAsync(string fileName) =>
        JsonSchema.FromFileAsync(Path.Combine(AppContext.BaseDirectory, "schemas", fileName));

    /// <summary>
    /// Parses as the schemas expect: dates stay strings (Json.NET would otherwise turn
    /// "2019-09-26T14:45:18" into a DateTime and the pattern would see a re-formatted value).
    /// </summary>
    public static JToken Parse(string json)
    {
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None, MaxDepth = 64 };
        var token = JToken.ReadFrom(reader);
        if (reader.Read() && reader.TokenType != JsonToken.Comment)
        {
            throw new JsonReaderException($"Unexpected content after the JSON value (line {reader.LineNumber}, position {reader.LinePosition}).");
        }

        return token;
    }

    /// <summary>
    /// Validates <paramref name="token"/> and adds every failure to <paramref name="errors"/>, keyed by
    /// its JSON pointer in <paramref name="root"/> (NJsonSchema reports paths from the document root,
    /// so an item of a posted array is reported as /3/clickEventLink).
    /// </summary>
    public static void Validate(JsonSchema schema, JToken token, JToken root, Http.ValidationErrors errors)
    {
        if (HasBigInteger(token))
        {
            // Json.NET reads an integer past 64 bits as a BigInteger, which NJsonSchema's number
            // checks cannot convert (an InvalidCastException: a 500 for a bad value). The schema
            // sees a copy that holds it as the nearest double; the caller's token keeps the digits
            // as sent. The copy is of the whole document, so errors keep their paths in it.
            var copy = root.DeepClone();
            foreach (var value in Values(copy).Where(v => v.Value is BigInteger).ToList())
            {
                value.Value = (double)(BigInteger)value.Value!;
            }

            token = ReferenceEquals(token, root) ? copy : copy.SelectToken(token.Path, errorWhenNoMatch: true)!;
            root = copy;
        }

        foreach (var error in schema.Validate(token).Flatten())
        {
            var pointer = JsonPointers.FromValidationPath(error.Path, root);
            errors.Add(pointer.Length == 0 ? "/" : pointer, Describe(error));
        }
    }

    private static bool HasBigInteger(JToken token) => Values(token).Any(v => v.Value is BigInteger);

    private static IEnumerable<JValue> Values(JToken token) => token switch
    {
        JContainer container => container.Descendants().OfType<JValue>(),
        JValue value => [value],
        _ => [],
    };

    private static string Describe(ValidationError error) => error.Kind switch
    {
        ValidationErrorKind.PropertyRequired => $"'{error.Property}' is required.",
        ValidationErrorKind.NotInEnumeration => "Not one of the allowed values.",
        ValidationErrorKind.PatternMismatch => "Does not have the expected format.",
        ValidationErrorKind.NoAdditionalPropertiesAllowed => $"'{error.Property}' is not allowed here.",
        ValidationErrorKind.NotAnyOf => "Does not satisfy the schema's rules for this object (the errors below say which).",
        ValidationErrorKind.ExcludedSchemaValidates => $"'{error.Property}' is not allowed with this activityStatus.",
        ValidationErrorKind.TooManyItems => "Too many items.",
        ValidationErrorKind.TooFewItems => "Too few items.",
        _ => $"{Humanize(error.Kind.ToString())}.",
    };

    private static string Humanize(string kind) =>
        string.Concat(kind.Select((c, i) => i > 0 && char.IsUpper(c) ? " " + char.ToLowerInvariant(c) : c.ToString()));
}
