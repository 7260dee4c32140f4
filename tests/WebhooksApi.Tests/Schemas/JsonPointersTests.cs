using NJsonSchema;
using WebhooksApi.Schemas;
using NJsonSchema.Validation;

namespace WebhooksApi.Tests.Schemas;

/// <summary>ValidationError.Path to RFC 6901 pointer: the keys of a 400's errors map.</summary>
public sealed class JsonPointersTests
{
    [Theory]
    [InlineData("#/", "")]
    [InlineData("#/activityStatus", "/activityStatus")]
    [InlineData("#/items", "/items")]
    [InlineData("#/items[3]", "/items/3")]
    [InlineData("#/items[3].contact", "/items/3/contact")]
    [InlineData("#/items[3].contact.id", "/items/3/contact/id")]
    [InlineData("#/[0]", "/0")]
    [InlineData("#/[12].hardBounce", "/12/hardBounce")]
    [InlineData("#/statusData.subscription.subscriptions[1]", "/statusData/subscription/subscriptions/1")]
    public void Paths_of_plain_names_map_without_the_document(string path, string expected) =>
        Assert.Equal(expected, JsonPointers.FromValidationPath(path));

    [Fact]
    public async Task Names_with_dots_brackets_slashes_and_tildes_are_read_from_the_document_and_escaped()
    {
        var schema = await JsonSchema.FromJsonAsync("""
            { "type": "object", "additionalProperties": false, "properties": { "a.b": { "type": "object", "properties": {
                "x/y~z": { "type": "integer" }, "[0]": { "type": "array", "items": { "type": "string" } } } } } }
            """);
        var document = SchemaFiles.Parse("""{ "a.b": { "x/y~z": "text", "[0]": ["ok", 1] }, "c.d[1]": 1 }""");

        var pointers = schema.Validate(document).Pointers(document);

        Assert.Contains(ValidationErrorKind.IntegerExpected, pointers["/a.b/x~1y~0z"]);
        Assert.Contains(ValidationErrorKind.StringExpected, pointers["/a.b/[0]/1"]);
        Assert.Contains(ValidationErrorKind.NoAdditionalPropertiesAllowed, pointers["/c.d[1]"]);
    }

    [Fact]
    public void Without_the_document_a_dotted_name_reads_as_nesting() =>
        Assert.Equal("/a/b", JsonPointers.FromValidationPath("#/a.b"));

    [Fact]
    public async Task A_missing_property_points_where_it_should_be()
    {
        var schema = await SchemaFiles.LoadAsync(SchemaFiles.WorkflowExecution);
        var document = SchemaFiles.Parse("""{ "items": [ { "contact": { "id": 1 } }, { "event": {} } ] }""");

        var pointers = schema.Validate(document).Pointers(document);

        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/items/1/contact"]);
    }
}
