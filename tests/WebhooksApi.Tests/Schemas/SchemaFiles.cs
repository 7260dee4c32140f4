using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using NJsonSchema;
using NJsonSchema.Validation;

namespace WebhooksApi.Tests.Schemas;

/// <summary>The files in schemas/, read from the repository as the service will read them.</summary>
internal static class SchemaFiles
{
    public const string ActivityEvent = "activity-event.schema.json";
    public const string ActivityBatch = "activity-batch.schema.json";
    public const string WorkflowExecution = "workflow-execution.schema.json";
    public const string WebhookEnvelope = "webhook-envelope.schema.json";

    public static readonly string[] All = [ActivityEvent, ActivityBatch, WorkflowExecution, WebhookEnvelope];

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WebhooksApi.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("WebhooksApi.sln not found above " + AppContext.BaseDirectory);
    }

    public static string PathOf(string fileName) => Path.Combine(RepositoryRoot(), "schemas", fileName);

    /// <summary>
    /// FromFileAsync, not FromJsonAsync: NJsonSchema resolves a relative $ref
    /// ("activity-event.schema.json") against the document's file path and ignores $id, so a
    /// schema read from a string has no base and its $ref throws NotSupportedException.
    /// </summary>
    public static Task<JsonSchema> LoadAsync(string fileName) => JsonSchema.FromFileAsync(PathOf(fileName));

    /// <summary>The file as plain JSON, for what NJsonSchema keeps out of its model ($id, examples, $comment).</summary>
    public static JObject Raw(string fileName) => (JObject)Parse(File.ReadAllText(PathOf(fileName)));

    public static IReadOnlyList<JToken> Examples(string fileName) =>
        Raw(fileName)["examples"] is JArray examples ? [.. examples] : [];

    /// <summary>
    /// Parses as the service must: DateParseHandling.None keeps "2019-09-26T14:45:18" a string
    /// token (Json.NET's default turns it into a DateTime and re-formats it) so patterns see
    /// the text that was sent. Throws JsonReaderException on invalid JSON.
    /// </summary>
    public static JToken Parse(string json)
    {
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None };
        var token = JToken.ReadFrom(reader);
        if (reader.Read() && reader.TokenType != JsonToken.Comment)
        {
            throw new JsonReaderException($"Unexpected content after the JSON value at line {reader.LineNumber}.");
        }

        return token;
    }

    public static JObject ParseObject(string json) => (JObject)Parse(json);

    public static ICollection<ValidationError> Validate(this JsonSchema schema, string json) => schema.Validate(Parse(json));
}
