using System.Text.RegularExpressions;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using NJsonSchema;
using WebhooksApi.Schemas;
using NJsonSchema.Validation;
using static WebhooksApi.Tests.Schemas.JsonEdits;

namespace WebhooksApi.Tests.Schemas;

/// <summary>activity-batch.schema.json, its $ref to activity-event.schema.json, and the seed's batch.</summary>
public sealed class ActivityBatchSchemaTests
{
    private const string VerbatimSeed = "tests/WebhooksApi.Tests/Schemas/Samples/esputnik-activity-webhook.verbatim.txt";

    [Fact]
    public async Task Loaded_from_its_file_the_item_ref_resolves_to_the_activity_event_schema_and_its_rules_apply()
    {
        var batch = await SchemaFiles.LoadAsync(SchemaFiles.ActivityBatch);
        Assert.Equal("Activity event", batch.Item!.ActualSchema.Title);

        var events = new JArray(SeedEvent("DELIVERED"), SeedEvent("READ"), SeedEvent("CLICKED").Without("clickEventLink"));
        var pointers = batch.Validate(events).Pointers(events);

        Assert.Contains(ValidationErrorKind.ArrayItemNotValid, pointers["/2"]);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/2/clickEventLink"]);
        Assert.DoesNotContain(pointers, p => p.Key.StartsWith("/0", StringComparison.Ordinal) || p.Key.StartsWith("/1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Read_from_a_string_the_ref_has_no_base_unless_the_file_path_is_given()
    {
        // NJsonSchema ignores $id for resolution: a relative $ref is taken from the document path.
        var path = SchemaFiles.PathOf(SchemaFiles.ActivityBatch);
        var text = await File.ReadAllTextAsync(path);

        await Assert.ThrowsAsync<NotSupportedException>(() => JsonSchema.FromJsonAsync(text));
        var withPath = await JsonSchema.FromJsonAsync(text, path);
        Assert.Equal("Activity event", withPath.Item!.ActualSchema.Title);
    }

    [Fact]
    public async Task An_empty_batch_is_refused_at_the_document()
    {
        var errors = await ValidateAsync(new JArray());
        var error = Assert.Single(errors);
        Assert.Equal(ValidationErrorKind.TooFewItems, error.Kind);
        Assert.Equal("", JsonPointers.FromValidationPath(error.Path, new JArray()));
    }

    [Fact]
    public async Task A_batch_of_1000_events_is_accepted_and_1001_refused()
    {
        Assert.Empty(await ValidateAsync(Events(1000)));
        Assert.Equal(ValidationErrorKind.TooManyItems, Assert.Single(await ValidateAsync(Events(1001))).Kind);
    }

    [Fact]
    public async Task A_single_event_not_wrapped_in_an_array_is_refused()
    {
        Assert.Equal(ValidationErrorKind.ArrayExpected, Assert.Single(await ValidateAsync(SeedEvent("READ"))).Kind);
    }

    [Fact]
    public async Task The_seed_batch_as_published_fails_to_parse_before_any_validation()
    {
        // The seed writes "mediaType": email with a bare word: not JSON. The parser stops at the
        // first one, so such a body is a 400 for malformed JSON and never reaches the schema.
        var verbatim = await File.ReadAllTextAsync(Path.Combine(SchemaFiles.RepositoryRoot(), VerbatimSeed));

        var error = Assert.ThrowsAny<JsonReaderException>(() => SchemaFiles.Parse(verbatim));

        Assert.Equal(6, error.LineNumber);
        Assert.Contains("mediaType", error.Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_seed_batch_with_its_bare_words_quoted_is_a_valid_batch_of_every_status()
    {
        var verbatim = await File.ReadAllTextAsync(Path.Combine(SchemaFiles.RepositoryRoot(), VerbatimSeed));
        var quoted = Regex.Replace(verbatim, "(\"mediaType\": )([a-z_]+)", "$1\"$2\"");

        var events = (JArray)SchemaFiles.Parse(quoted);

        Assert.Empty(await ValidateAsync(events));
        Assert.Equal(8, events.Count);
        Assert.Equal(7, events.Select(e => (string?)e["activityStatus"]).Distinct().Count());
    }

    private static JArray Events(int count)
    {
        var delivered = SeedEvent("DELIVERED");
        return new(Enumerable.Range(0, count).Select(i => ((JObject)delivered.DeepClone()).With("messageInstanceId", i)));
    }

    private static async Task<ICollection<ValidationError>> ValidateAsync(JToken instance) =>
        (await SchemaFiles.LoadAsync(SchemaFiles.ActivityBatch)).Validate(instance);
}
