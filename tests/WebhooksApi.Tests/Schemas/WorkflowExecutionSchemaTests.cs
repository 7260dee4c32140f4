using Newtonsoft.Json.Linq;
using NJsonSchema.Validation;
using WebhooksApi.Schemas;

namespace WebhooksApi.Tests.Schemas;

/// <summary>workflow-execution.schema.json: the body of POST /v1/workflow-webhooks/{id}/executions.</summary>
public sealed class WorkflowExecutionSchemaTests
{
    [Fact]
    public async Task A_batch_of_10000_items_is_accepted_and_10001_is_refused_at_items()
    {
        Assert.Empty(await ValidateAsync(Batch(10_000)));

        var tooMany = Batch(10_001);
        var errors = await ValidateAsync(tooMany);

        var error = Assert.Single(errors);
        Assert.Equal(ValidationErrorKind.TooManyItems, error.Kind);
        Assert.Equal("/items", JsonPointers.FromValidationPath(error.Path, tooMany));
    }

    [Fact]
    public async Task An_empty_batch_is_refused_at_items()
    {
        var pointers = await RefusedAsync(Batch(0));
        Assert.Contains(ValidationErrorKind.TooFewItems, pointers["/items"]);
    }

    [Fact]
    public async Task An_item_whose_contact_has_no_id_email_or_phone_is_refused_at_that_contact()
    {
        var batch = Batch(5);
        batch["items"]![3]!["contact"] = new JObject { ["firstName"] = "Anna", ["TOWN"] = "Kyiv" };

        var errors = await ValidateAsync(batch);

        // The service's 400 reads: errors["/items/3/contact"] = ["needs one of id, email, phone"].
        var error = Assert.Single(errors);
        Assert.Equal("/items/3", JsonPointers.FromValidationPath(error.Path, batch));
        var pointers = errors.Pointers(batch);
        Assert.Equal([ValidationErrorKind.NotAnyOf], pointers["/items/3/contact"]);
        Assert.Equal(["/items/3/contact/email", "/items/3/contact/id", "/items/3/contact/phone"],
            pointers.Where(p => p.Contains(ValidationErrorKind.PropertyRequired)).Select(p => p.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_single_execution_without_an_identifier_is_refused_at_contact()
    {
        var pointers = await RefusedAsync(SchemaFiles.ParseObject("""{ "contact": { "firstName": "John" }, "event": { "orderId": "A-1001" } }"""));
        Assert.Contains(ValidationErrorKind.NotAnyOf, pointers["/contact"]);
    }

    [Theory]
    [InlineData("54321")]
    [InlineData("\"54321\"")]
    [InlineData("\"c7a1f0e2-5b8d-4c39-9a61-2f4e8b7d1c03\"")]
    [InlineData("9007199254740993")]
    public async Task A_contact_id_is_a_positive_integer_or_a_non_blank_string(string id) =>
        Assert.Empty(await ValidateAsync(Single($$"""{ "id": {{id}} }""")));

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("\"\"")]
    [InlineData("\" \"")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("{ \"value\": 1 }")]
    public async Task Other_contact_ids_are_refused_at_contact_id(string id)
    {
        var pointers = await RefusedAsync(Single($$"""{ "id": {{id}}, "email": "john.doe@example.org" }"""));
        Assert.True(pointers.Contains("/contact/id"), string.Join(", ", pointers.Select(p => p.Key)));
    }

    [Theory]
    [InlineData("email", "\"${email}\"")]
    [InlineData("email", "\"john.doe\"")]
    [InlineData("phone", "\"n/a\"")]
    [InlineData("phone", "380631234567")]
    public async Task A_malformed_email_or_phone_is_refused_at_its_field(string field, string json)
    {
        var pointers = await RefusedAsync(Single($$"""{ "id": 1, "{{field}}": {{json}} }"""));
        Assert.True(pointers.Contains("/contact/" + field), string.Join(", ", pointers.Select(p => p.Key)));
    }

    [Fact]
    public async Task A_body_with_both_contact_and_items_is_refused()
    {
        var both = Batch(1);
        both["contact"] = new JObject { ["id"] = 1 };

        var pointers = await RefusedAsync(both);

        Assert.Contains(ValidationErrorKind.NotAnyOf, pointers[""]);
        Assert.Contains(ValidationErrorKind.ExcludedSchemaValidates, pointers["/items"]);
        Assert.Contains(ValidationErrorKind.ExcludedSchemaValidates, pointers["/contact"]);
    }

    [Fact]
    public async Task A_body_with_neither_contact_nor_items_is_refused()
    {
        var pointers = await RefusedAsync(SchemaFiles.ParseObject("""{ "event": { "orderId": "A-1001" } }"""));
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/contact"]);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/items"]);
    }

    [Fact]
    public async Task A_misspelt_field_is_refused_rather_than_dropped()
    {
        var single = SchemaFiles.ParseObject("""{ "contact": { "id": 1 }, "variable": { "promo": "X" } }""");
        Assert.Contains(ValidationErrorKind.NoAdditionalPropertiesAllowed, (await RefusedAsync(single))["/variable"]);

        var batch = Batch(2);
        batch["items"]![1]!["vars"] = new JObject();
        Assert.Contains(ValidationErrorKind.NoAdditionalPropertiesAllowed, (await RefusedAsync(batch))["/items/1/vars"]);
    }

    [Fact]
    public async Task Variables_as_a_list_of_pairs_as_SendPulse_sends_them_are_refused()
    {
        // The seed's automation webhook carries "variables":[{"name1":"value1"},{"name2":"value2"}].
        var sendPulse = SchemaFiles.ParseObject("""
            { "contact": { "email": "example@example.com", "phone": "+380631234567" },
              "variables": [ { "name1": "value1" }, { "name2": "value2" } ] }
            """);
        Assert.Contains(ValidationErrorKind.ObjectExpected, (await RefusedAsync(sendPulse))["/variables"]);
    }

    [Fact]
    public async Task Contact_fields_beyond_the_identifiers_and_any_event_or_variables_are_accepted()
    {
        var rich = SchemaFiles.ParseObject("""
            { "contact": { "phone": "+1 (555) 555-0123", "firstName": "John", "Birthday": "1990-01-01", "loyalty": { "tier": 3 } },
              "event": { "orderId": "A-1001", "lines": [ { "sku": "X", "qty": 2 } ], "total": 99.5 },
              "variables": { "promo": null, "segment": ["vip"] } }
            """);
        Assert.Empty(await ValidateAsync(rich));
    }

    private static JObject Single(string contactJson) => SchemaFiles.ParseObject($$"""{ "contact": {{contactJson}} }""");

    private static JObject Batch(int count) => new()
    {
        ["items"] = new JArray(Enumerable.Range(1, count).Select(i => new JObject
        {
            ["contact"] = new JObject { ["id"] = i, ["email"] = $"contact{i}@example.org" },
            ["event"] = new JObject { ["orderId"] = $"A-{i}" },
        })),
    };

    private static async Task<ICollection<ValidationError>> ValidateAsync(JToken instance) =>
        (await SchemaFiles.LoadAsync(SchemaFiles.WorkflowExecution)).Validate(instance);

    private static async Task<ILookup<string, ValidationErrorKind>> RefusedAsync(JToken instance)
    {
        var errors = await ValidateAsync(instance);
        Assert.NotEmpty(errors);
        return errors.Pointers(instance);
    }
}
