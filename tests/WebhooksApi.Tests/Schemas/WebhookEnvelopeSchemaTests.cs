using System.Text.Json.Nodes;
using Newtonsoft.Json.Linq;
using NJsonSchema.Validation;
using WebhooksApi.Schemas;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;
using WebhooksApi.Security;
using TestSend = WebhooksApi.Features.Connections.Test.Endpoint;

namespace WebhooksApi.Tests.Schemas;

/// <summary>webhook-envelope.schema.json, held against what RequestComposer really sends.</summary>
public sealed class WebhookEnvelopeSchemaTests
{
    private static readonly Guid AccountId = Guid.Parse("019ab2f0-1111-7222-8333-444455556666");

    [Theory]
    [InlineData(0)]
    [InlineData(123)]
    [InlineData(999)]
    public async Task The_body_of_a_test_send_with_the_built_in_sample_validates(int milliseconds)
    {
        var now = new DateTimeOffset(2026, 11, 23, 10, 15, 30, milliseconds, TimeSpan.FromHours(2));
        var body = RequestComposer.DefaultEnvelope(Input(TestSend.SampleContact, TestSend.SampleEvent, [], "webhook.test", now));

        Assert.Empty(await ValidateAsync(SchemaFiles.Parse(body)));
    }

    [Fact]
    public async Task The_body_of_a_workflow_execution_validates()
    {
        var contact = new JsonObject { ["id"] = 54321, ["email"] = "john.doe@example.org", ["firstname"] = "John" };
        var body = RequestComposer.DefaultEnvelope(Input(contact, [], new JsonObject { ["promo"] = "SPRING24" }, "workflow.execution", DateTimeOffset.UnixEpoch));

        Assert.Empty(await ValidateAsync(SchemaFiles.Parse(body)));
    }

    [Fact]
    public async Task A_workflow_execution_whose_contact_has_no_identifier_is_refused_but_a_test_send_may_have_one()
    {
        var anonymous = new JsonObject { ["firstName"] = "Nobody" };
        var execution = SchemaFiles.Parse(RequestComposer.DefaultEnvelope(Input(anonymous, [], [], "workflow.execution", DateTimeOffset.UnixEpoch)));
        var test = SchemaFiles.Parse(RequestComposer.DefaultEnvelope(Input(anonymous, [], [], "webhook.test", DateTimeOffset.UnixEpoch)));

        var pointers = (await ValidateAsync(execution)).Pointers(execution);

        Assert.Contains(ValidationErrorKind.NotAnyOf, pointers["/data/contact"]);
        Assert.Empty(await ValidateAsync(test));
    }

    [Theory]
    [InlineData("id", "\"msg_019AB2F3C4D57E6F8A9B0C1D2E3F4A5B\"")]
    [InlineData("id", "\"msg_019ab2f3\"")]
    [InlineData("id", "\"test_evt_GppedVq2CWTWxUUxrm26bic0C\"")]
    [InlineData("event", "\"Workflow Execution\"")]
    [InlineData("event", "\"workflow\"")]
    [InlineData("timestamp", "\"2026-11-23T12:15:30.123+02:00\"")]
    [InlineData("timestamp", "\"2026-11-23T10:15:30\"")]
    [InlineData("timestamp", "1763892930")]
    [InlineData("accountId", "\"019AB2F0-1111-7222-8333-444455556666\"")]
    [InlineData("accountId", "3")]
    public async Task A_malformed_envelope_field_is_refused_at_its_pointer(string field, string json)
    {
        var envelope = SeedExample(0).With(field, SchemaFiles.Parse(json));
        var pointers = (await ValidateAsync(envelope)).Pointers(envelope);
        Assert.True(pointers.Contains("/" + field), string.Join(", ", pointers.Select(p => p.Key)));
    }

    [Fact]
    public async Task Data_always_carries_contact_event_and_variables()
    {
        var envelope = SeedExample(0);
        ((JObject)envelope["data"]!).Remove("variables");

        var pointers = (await ValidateAsync(envelope)).Pointers(envelope);

        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/data/variables"]);
    }

    [Fact]
    public async Task Another_platforms_test_webhook_is_not_our_envelope()
    {
        // Brevo's test request (seed 001): its own id scheme, idClient, and the contact as data.
        var brevo = SchemaFiles.Parse("""
            {"id":"test_evt_GppedVq2CWTWxUUxrm26bic0C",
            "event":"automation.webhook.send",
            "timestamp":"2024-05-28T12:56:40Z",
            "idClient":3,
            "data":{
            "type":"member",
            "id":54321,
            "email":"john.doe@example.org",
            "firstname":"John",
            "lastname":"Doe"
            }
            }
            """);

        var pointers = (await ValidateAsync(brevo)).Pointers(brevo);

        Assert.Contains(ValidationErrorKind.NoAdditionalPropertiesAllowed, pointers["/idClient"]);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/accountId"]);
        Assert.Contains(ValidationErrorKind.PatternMismatch, pointers["/id"]);
        Assert.Contains(ValidationErrorKind.PropertyRequired, pointers["/data/contact"]);
        Assert.Contains(ValidationErrorKind.NoAdditionalPropertiesAllowed, pointers["/data/email"]);
        Assert.False(pointers.Contains("/timestamp"));
        Assert.False(pointers.Contains("/event"));
    }

    [Fact]
    public void The_envelope_is_byte_for_byte_what_a_JsonObject_of_the_same_nodes_serializes_to()
    {
        // The envelope is written straight from the input's nodes (no clones). Partners verify the
        // signature over these exact bytes, so the writer must escape and order as the JsonObject did.
        var contact = new JsonObject
        {
            ["id"] = "c-1",
            ["email"] = "ana+<tag>@example.com",
            ["name"] = "Zoë \"Ana\" O'Brien & co\u2028",
            ["score"] = 4.25,
            ["vip"] = true,
            ["tags"] = new JsonArray("a", null, 3, new JsonObject { ["deep"] = "\u00e9\t" }),
            ["none"] = null,
        };
        var @event = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["sku"] = "X/1", ["qty"] = 2 }), ["emoji"] = "🎉" };
        var input = Input(contact, @event, new JsonObject { ["promo"] = "</script>" }, "workflow.execution", new DateTimeOffset(2026, 11, 23, 10, 15, 30, 456, TimeSpan.FromHours(-5)));

        var expected = new JsonObject
        {
            ["id"] = input.MessageId,
            ["event"] = input.EventType,
            ["timestamp"] = "2026-11-23T15:15:30.456Z",
            ["accountId"] = input.AccountId.ToString(),
            ["data"] = new JsonObject
            {
                ["contact"] = input.Contact.DeepClone(),
                ["event"] = input.Event.DeepClone(),
                ["variables"] = input.Variables.DeepClone(),
            },
        }.ToJsonString();

        Assert.Equal(expected, RequestComposer.DefaultEnvelope(input));
    }

    private static MessageInput Input(JsonObject contact, JsonObject @event, JsonObject variables, string eventType, DateTimeOffset now) =>
        new(contact, @event, variables, AccountId, "Acme", WebhookSigner.NewMessageId(Ids.New(now)), eventType, now);

    private static JObject SeedExample(int index) => JsonEdits.SeedExample(SchemaFiles.WebhookEnvelope, index);

    private static async Task<ICollection<ValidationError>> ValidateAsync(JToken instance) =>
        (await SchemaFiles.LoadAsync(SchemaFiles.WebhookEnvelope)).Validate(instance);
}
