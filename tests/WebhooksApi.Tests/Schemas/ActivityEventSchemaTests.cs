using Newtonsoft.Json.Linq;
using NJsonSchema.Validation;
using WebhooksApi.Schemas;
using static WebhooksApi.Tests.Schemas.JsonEdits;

namespace WebhooksApi.Tests.Schemas;

/// <summary>
/// activity-event.schema.json. Each refusal starts from the seed platform's own event of that
/// status (the schema's examples) and breaks one rule, and names the pointer a 400 would carry.
/// </summary>
public sealed class ActivityEventSchemaTests
{
    private static readonly string[] Statuses = ["DELIVERED", "UNDELIVERED", "READ", "CLICKED", "UNSUBSCRIBED", "SPAM", "SUBSCRIPTION_CHANGED"];

    [Fact]
    public void The_examples_hold_a_seed_event_of_every_status()
    {
        var statuses = SchemaFiles.Examples(SchemaFiles.ActivityEvent).Select(e => (string?)e["activityStatus"]).Distinct();
        Assert.Equal(Statuses.Order(StringComparer.Ordinal), statuses.Order(StringComparer.Ordinal));
        Assert.Equal(Statuses, SchemaFiles.Raw(SchemaFiles.ActivityEvent)["properties"]!["activityStatus"]!["enum"]!.Values<string>());
    }

    [Fact]
    public async Task Fields_the_schema_does_not_know_are_accepted()
    {
        var delivered = SeedEvent("DELIVERED").With("utm", new JObject { ["source"] = "newsletter" }).With("deviceType", "mobile");
        Assert.Empty(await ValidateAsync(delivered));
    }

    [Fact]
    public async Task HardBounce_on_a_CLICKED_event_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("CLICKED").With("hardBounce", true));
        Assert.Contains(ValidationErrorKind.ExcludedSchemaValidates, pointers["/hardBounce"]);
    }

    [Fact]
    public async Task StatusDescription_on_a_DELIVERED_event_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("DELIVERED").With("statusDescription", "250 OK"));
        Assert.Contains(ValidationErrorKind.ExcludedSchemaValidates, pointers["/statusDescription"]);
    }

    [Fact]
    public async Task CLICKED_without_clickEventLink_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("CLICKED").Without("clickEventLink"));
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/clickEventLink"]);
    }

    [Fact]
    public async Task ClickEventLink_on_a_READ_event_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("READ").With("clickEventLink", "https://test.ua/promo/"));
        Assert.Contains(ValidationErrorKind.ExcludedSchemaValidates, pointers["/clickEventLink"]);
    }

    [Fact]
    public async Task SUBSCRIPTION_CHANGED_without_statusData_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("SUBSCRIPTION_CHANGED").Without("statusData"));
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/statusData"]);
    }

    [Fact]
    public async Task SUBSCRIPTION_CHANGED_without_the_subscription_list_is_refused()
    {
        var misspelt = SeedEvent("SUBSCRIPTION_CHANGED").With("statusData", SchemaFiles.ParseObject("""{ "subscripton": { "subscriptons": ["TABLETS"] } }"""));
        var pointers = await RefusedAsync(misspelt);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/statusData/subscription"]);
    }

    [Fact]
    public async Task SUBSCRIPTION_CHANGED_to_no_category_at_all_is_accepted()
    {
        var none = SeedEvent("SUBSCRIPTION_CHANGED").With("statusData", SchemaFiles.ParseObject("""{ "subscription": { "subscriptions": [] } }"""));
        Assert.Empty(await ValidateAsync(none));
    }

    [Theory]
    [InlineData("clicked")]
    [InlineData("OPENED")]
    [InlineData("BOUNCED")]
    [InlineData("")]
    public async Task An_unknown_activityStatus_is_refused(string status)
    {
        var pointers = await RefusedAsync(SeedEvent("DELIVERED").With("activityStatus", status));
        Assert.Contains(ValidationErrorKind.NotInEnumeration, pointers["/activityStatus"]);
    }

    [Fact]
    public async Task A_missing_activityDateTime_is_refused()
    {
        var pointers = await RefusedAsync(SeedEvent("READ").Without("activityDateTime"));
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/activityDateTime"]);
    }

    [Theory]
    [InlineData("2019-09-26T14:45:18")]
    [InlineData("2019-09-26T14:45:18.5")]
    [InlineData("2026-11-23T10:15:30.250Z")]
    [InlineData("2026-11-23T12:15:30+02:00")]
    [InlineData("2026-11-23T02:15:30-08:00")]
    public async Task ActivityDateTime_is_ISO_8601_with_or_without_an_offset(string value) =>
        Assert.Empty(await ValidateAsync(SeedEvent("READ").With("activityDateTime", value)));

    [Theory]
    [InlineData("\"2019-09-26 14:45:18\"")]
    [InlineData("\"2019-09-26\"")]
    [InlineData("\"2019-09-26T14:45\"")]
    [InlineData("\"2019-13-01T00:00:00\"")]
    [InlineData("\"2019-09-26T24:00:00\"")]
    [InlineData("\"26.09.2019 14:45:18\"")]
    [InlineData("\"2026-11-23T12:15:30+0200\"")]
    [InlineData("\"1496827422\"")]
    [InlineData("1496827422")]
    public async Task Other_activityDateTime_shapes_are_refused(string json)
    {
        var pointers = await RefusedAsync(SeedEvent("READ").With("activityDateTime", SchemaFiles.Parse(json)));
        Assert.True(pointers.Contains("/activityDateTime"));
    }

    [Fact]
    public async Task An_event_without_contactId_email_or_sms_is_refused_at_the_event()
    {
        var anonymous = SeedEvent("READ").Without("contactId", "email");
        var schema = await SchemaFiles.LoadAsync(SchemaFiles.ActivityEvent);

        var errors = schema.Validate(anonymous);

        // One error for the object ("" is the pointer to the whole document), whose alternatives
        // name the three fields that would each have satisfied it.
        var pointers = errors.Pointers(anonymous);
        Assert.Contains(ValidationErrorKind.NotAnyOf, pointers[""]);
        Assert.All(new[] { "/contactId", "/email", "/sms" }, p => Assert.Contains(ValidationErrorKind.PropertyRequired, pointers[p]));
    }

    [Fact]
    public async Task Any_one_identifier_is_enough()
    {
        var bare = SeedEvent("READ").Without("contactId", "email");
        Assert.Empty(await ValidateAsync(((JObject)bare.DeepClone()).With("contactId", 1258810400)));
        Assert.Empty(await ValidateAsync(((JObject)bare.DeepClone()).With("contactId", "c7a1f0e2-5b8d-4c39-9a61-2f4e8b7d1c03")));
        Assert.Empty(await ValidateAsync(((JObject)bare.DeepClone()).With("email", "test@gmail.com")));
        Assert.Empty(await ValidateAsync(((JObject)bare.DeepClone()).With("sms", "380671234567")));
    }

    [Theory]
    [InlineData("contactId", "0")]
    [InlineData("contactId", "-5")]
    [InlineData("contactId", "\"\"")]
    [InlineData("contactId", "\"   \"")]
    [InlineData("contactId", "null")]
    [InlineData("contactId", "true")]
    [InlineData("email", "\"not-an-email\"")]
    [InlineData("email", "\"${email}\"")]
    [InlineData("email", "\"\"")]
    [InlineData("sms", "\"call me\"")]
    [InlineData("sms", "380671234567")]
    public async Task A_blank_or_malformed_identifier_is_refused_at_its_field(string field, string json)
    {
        var pointers = await RefusedAsync(SeedEvent("READ").Without("contactId", "email").With(field, SchemaFiles.Parse(json)));
        Assert.True(pointers.Contains("/" + field), string.Join(", ", pointers.Select(p => p.Key)));
    }

    [Theory]
    [InlineData("fax")]
    [InlineData("EMAIL")]
    [InlineData("mobile_push")]
    public async Task A_mediaType_outside_the_known_channels_is_refused(string mediaType)
    {
        var pointers = await RefusedAsync(SeedEvent("DELIVERED").With("mediaType", mediaType));
        Assert.Contains(ValidationErrorKind.NotInEnumeration, pointers["/mediaType"]);
    }

    [Fact]
    public async Task A_spam_webhook_of_another_platform_is_not_an_activity_event_until_mapped()
    {
        // SendPulse's spam complaint webhook: the same fact under other names and an epoch timestamp.
        var sendPulse = (JObject)SchemaFiles.Parse("""
            { "timestamp": 1496827422, "event": "spam", "task_id": 3668141, "email": "john.doe@sendpulse.com",
              "source": "automation360", "automation_id": "123456789" }
            """);

        var pointers = await RefusedAsync(sendPulse);

        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/activityStatus"]);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/activityDateTime"]);
    }

    private static async Task<ICollection<ValidationError>> ValidateAsync(JToken instance) =>
        (await SchemaFiles.LoadAsync(SchemaFiles.ActivityEvent)).Validate(instance);

    private static async Task<ILookup<string, ValidationErrorKind>> RefusedAsync(JToken instance)
    {
        var errors = await ValidateAsync(instance);
        Assert.NotEmpty(errors);
        return errors.Pointers(instance);
    }
}
