using Newtonsoft.Json.Linq;
using NJsonSchema;
using WebhooksApi.Schemas;

namespace WebhooksApi.Tests.Schemas;

/// <summary>What holds for every file in schemas/.</summary>
public sealed class SchemaFilesTests
{
    public static TheoryData<string> Files => new(SchemaFiles.All);

    /// <summary>
    /// Keywords NJsonSchema 10.7.2 drops into ExtensionData and never checks, so a rule written
    /// with them would pass every instance here while other validators enforce it: "CLICKED needs
    /// clickEventLink" written as if/then lets a CLICKED event without the link through (the
    /// last test below shows it). Draft 2019-09/2020-12 keywords are on the list too.
    /// </summary>
    private static readonly HashSet<string> IgnoredKeywords = new(StringComparer.Ordinal)
    {
        "if", "then", "else", "const", "dependencies", "contains", "propertyNames",
        "dependentRequired", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
        "prefixItems", "minContains", "maxContains", "$defs", "$anchor", "$dynamicRef", "$recursiveRef",
    };

    [Fact]
    public void Every_json_file_in_schemas_is_covered_by_these_tests()
    {
        var onDisk = Directory.GetFiles(Path.Combine(SchemaFiles.RepositoryRoot(), "schemas"), "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(SchemaFiles.All.Order(StringComparer.Ordinal), onDisk);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Each_schema_is_draft_07_with_its_id_a_title_a_description_and_examples(string file)
    {
        var raw = SchemaFiles.Raw(file);
        Assert.Equal("http://json-schema.org/draft-07/schema#", (string?)raw["$schema"]);
        Assert.Equal("https://webhooks-api.dev/schemas/" + file, (string?)raw["$id"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)raw["title"]));
        Assert.False(string.IsNullOrWhiteSpace((string?)raw["description"]));
        Assert.NotEmpty(SchemaFiles.Examples(file));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Every_example_of_a_schema_validates_against_it(string file)
    {
        var schema = await SchemaFiles.LoadAsync(file);
        var examples = SchemaFiles.Examples(file);
        for (var i = 0; i < examples.Count; i++)
        {
            var errors = schema.Validate(examples[i]);
            Assert.True(errors.Count == 0, $"{file} examples[{i}]: " + string.Join(", ", errors.Pointers(examples[i]).Select(p => $"{p.Key} {string.Join('/', p)}")));
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void A_schema_uses_no_keyword_NJsonSchema_ignores_and_no_boolean_subschema(string file)
    {
        var problems = new List<string>();
        Walk(SchemaFiles.Raw(file), "#", problems);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task NJsonSchema_10_7_2_ignores_if_then_which_is_why_the_rules_are_anyOf_implications()
    {
        var withIf = await JsonSchema.FromJsonAsync("""
            { "if": { "properties": { "activityStatus": { "enum": ["CLICKED"] } } }, "then": { "required": ["clickEventLink"] } }
            """);
        var asImplication = await JsonSchema.FromJsonAsync("""
            { "anyOf": [
                { "properties": { "activityStatus": { "not": { "enum": ["CLICKED"] } } } },
                { "required": ["clickEventLink"] } ] }
            """);
        var clickedWithoutLink = SchemaFiles.Parse("""{ "activityStatus": "CLICKED" }""");

        Assert.Empty(withIf.Validate(clickedWithoutLink));
        Assert.NotEmpty(asImplication.Validate(clickedWithoutLink));
    }

    private static void Walk(JToken schema, string at, List<string> problems)
    {
        if (schema is JValue { Type: JTokenType.Boolean })
        {
            // NJsonSchema throws "Unexpected initial token 'Boolean'" loading these.
            problems.Add($"{at}: boolean subschema (write {{}} or {{\"not\": {{}}}})");
            return;
        }

        if (schema is not JObject obj)
        {
            return;
        }

        foreach (var property in obj.Properties())
        {
            var here = at + "/" + property.Name;
            if (IgnoredKeywords.Contains(property.Name))
            {
                problems.Add($"{here}: NJsonSchema 10.7.2 does not check '{property.Name}'");
            }

            switch (property.Name)
            {
                case "properties" or "patternProperties" or "definitions":
                    foreach (var named in ((JObject)property.Value).Properties())
                    {
                        Walk(named.Value, here + "/" + named.Name, problems);
                    }

                    break;
                case "allOf" or "anyOf" or "oneOf":
                    var i = 0;
                    foreach (var item in (JArray)property.Value)
                    {
                        Walk(item, $"{here}/{i++}", problems);
                    }

                    break;
                case "items" when property.Value is JArray tuple:
                    foreach (var item in tuple)
                    {
                        Walk(item, here, problems);
                    }

                    break;
                case "items" or "not":
                    Walk(property.Value, here, problems);
                    break;
                case "additionalProperties" or "additionalItems" when property.Value is JObject:
                    Walk(property.Value, here, problems);
                    break;
                default:
                    break;
            }
        }
    }
}
