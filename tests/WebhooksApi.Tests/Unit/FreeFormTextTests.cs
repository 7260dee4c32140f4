using System.Text.Json.Nodes;
using WebhooksApi.Http;

namespace WebhooksApi.Tests.Unit;

/// <summary>What the door refuses in a free-form object (a contact, an event, variables), read as the API reads a request.</summary>
public sealed class FreeFormTextTests
{
    [Theory]
    [InlineData("""{"firstName": "\ud800"}""")]
    [InlineData("""{"\udc00": "x"}""")]
    [InlineData("""{"tags": ["a", {"deep": "b\ud800c"}]}""")]
    [InlineData("""{"pair backwards": "\udc00\ud800"}""")]
    public void Half_a_surrogate_pair_anywhere_is_unreadable(string json) =>
        Assert.Equal(NulFreeStrings.HalfPairMessage, NulFreeStrings.Unreadable(JsonNode.Parse(json)));

    [Theory]
    [InlineData("""{"email": "a@example.com", "email": "b@example.com"}""")]
    [InlineData("""{"email": "a@example.com", "EMAIL": "b@example.com"}""")]
    [InlineData("""{"items": [{"k": 1, "k": 2}]}""")]
    public void A_name_given_twice_in_one_object_is_unreadable(string json) =>
        Assert.Equal(NulFreeStrings.RepeatedNameMessage, NulFreeStrings.Unreadable(JsonNode.Parse(json, new JsonNodeOptions { PropertyNameCaseInsensitive = true })));

    [Theory]
    [InlineData("""{"firstName": "Zoë 😀 \ud83d\ude00", "n": 1, "ok": true, "none": null}""")]
    [InlineData("""{"note": "nul \u0000 kept: the stored JSON keeps it escaped"}""")]
    [InlineData("""{"quote": "say \"hi\" \\ back"}""")]
    [InlineData("""{}""")]
    public void Text_that_reads_is_left_alone(string json) =>
        Assert.Null(NulFreeStrings.Unreadable(JsonNode.Parse(json)));

    [Theory]
    [InlineData("""{"email": "a\u0000b@example.com"}""", "email")]
    [InlineData("""{"Phone": "+1\u0000"}""", "Phone")]
    [InlineData("""{"id": "c\u00001", "email": "a@example.com"}""", "id")]
    [InlineData("""{"firstName": "a\u0000b", "email": "a@example.com"}""", null)]
    [InlineData("""{"id": 12, "email": "a@example.com"}""", null)]
    public void Nul_is_refused_only_in_the_identifiers_stored_in_columns(string json, string? refused) =>
        Assert.Equal(refused, NulFreeStrings.IdentifierWithNul((JsonObject)JsonNode.Parse(json)!));
}
