using System.Net;
using System.Text.Json;
using System.Web;
using System.Xml.Linq;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Connections;

/// <summary>Merge tags as receivers see them: hostile contact values cannot break the document, the URL or the headers.</summary>
[Collection(SqliteCollection.Name)]
public sealed class TemplatesInRequestsTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private const string Hostile = "\"}, \"admin\": true, \"x\": {\"";

    private async Task<(ReceivedRequest Arrived, JsonElement Test)> SendAsync(Dictionary<string, object?> connection, object contact)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var url = (string)connection["url"]!;
        var id = (await admin.CreateConnectionAsync(connection)).Id();
        var test = await admin.TestConnectionAsync(id, new { contact });
        var received = Fixture.Receiver.Received(url);
        return (received.Count == 0 ? null! : received[^1], test);
    }

    [Fact]
    public async Task A_hostile_value_stays_one_string_in_a_json_body()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, test) = await SendAsync(
            Builders.Connection(url).With("bodyTemplate", "{\"name\": \"{{contact.firstName}}\", \"greeting\": \"Hi {{default contact.nickname 'there'}}\"}"),
            new { id = "1", firstName = Hostile });

        Assert.Equal("ok", test.Str("outcome"));
        var body = JsonDocument.Parse(arrived.BodyText).RootElement;
        Assert.Equal(["name", "greeting"], body.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Hostile, body.Str("name"));
        Assert.Equal("Hi there", body.Str("greeting"));
    }

    [Fact]
    public async Task A_hostile_value_stays_text_in_an_xml_body()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, _) = await SendAsync(
            Builders.Connection(url).With("bodyFormat", "xml").With("bodyTemplate", "<contact><name>{{contact.firstName}}</name></contact>"),
            new { id = "1", firstName = "</name><admin>1</admin><name>&amp;" });

        var xml = XDocument.Parse(arrived.BodyText);
        Assert.Single(xml.Root!.Elements());
        Assert.Equal("</name><admin>1</admin><name>&amp;", xml.Root.Element("name")!.Value);
        Assert.StartsWith("application/xml", arrived.Header("Content-Type"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Url_values_are_percent_encoded_and_cannot_add_parameters()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, test) = await SendAsync(
            Builders.Connection(url + "?email={{contact.email}}&src=crm").With("method", "GET"),
            new { id = "1", email = "a+b@x.io&admin=1#frag" });

        Assert.Equal("ok", test.Str("outcome"));
        var query = HttpUtility.ParseQueryString(arrived.Query);
        Assert.Equal("a+b@x.io&admin=1#frag", query["email"]);
        Assert.Null(query["admin"]);
        Assert.Equal("crm", query["src"]);
        Assert.Equal("GET", arrived.Method);
    }

    [Fact]
    public async Task Parameters_can_travel_in_headers_instead_of_the_query()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, _) = await SendAsync(
            Builders.Connection(url + "?email={{contact.email}}").With("method", "GET").With("paramsInHeaders", true),
            new { id = "1", email = "ana@example.com" });

        Assert.Equal(string.Empty, arrived.Query);
        Assert.Equal("ana@example.com", arrived.Header("email"));
    }

    [Fact]
    public async Task Header_values_cannot_inject_headers()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, test) = await SendAsync(
            Builders.Connection(url).With("headers", new Dictionary<string, string> { ["X-Email"] = "{{contact.email}}" }),
            new { id = "1", email = "ana@example.com\r\nX-Injected: yes" });

        Assert.Equal("ok", test.Str("outcome"));
        Assert.Null(arrived.Header("X-Injected"));
        Assert.Equal("ana@example.comX-Injected: yes", arrived.Header("X-Email"));
    }

    [Fact]
    public async Task A_template_that_does_not_compile_or_renders_invalid_json_is_refused_with_line_and_column()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var url = Fixture.Receiver.NewEndpoint();

        var unclosed = await (await admin.PostJsonAsync("/v1/connections", Builders.Connection(url).With("bodyTemplate", "{\n  \"a\": 1,\n  {{#if contact.vip}}\n}")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Contains("line 3", unclosed.GetProperty("errors").GetProperty("bodyTemplate")[0].GetString(), StringComparison.Ordinal);

        var notJson = await (await admin.PostJsonAsync("/v1/connections", Builders.Connection(url).With("bodyTemplate", "{\"email\": {{contact.email}}}")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Contains("line 1", notJson.GetProperty("errors").GetProperty("bodyTemplate")[0].GetString(), StringComparison.Ordinal);

        var unknownHelper = await (await admin.PostJsonAsync("/v1/connections", Builders.Connection(url).With("bodyTemplate", "{\"a\": \"{{shell contact.email}}\"}")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(unknownHelper.GetProperty("errors").TryGetProperty("bodyTemplate", out _));

        var badHeader = await (await admin.PostJsonAsync("/v1/connections", Builders.Connection(url).With("headers", new Dictionary<string, string> { ["X-A"] = "{{#each}}" })))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(badHeader.GetProperty("errors").TryGetProperty("headers.X-A", out _));
    }

    [Fact]
    public async Task A_body_that_breaks_only_for_some_contacts_is_a_template_error_and_is_not_sent()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (arrived, test) = await SendAsync(
            Builders.Connection(url).With("bodyTemplate", "{\"vip\": {{#if contact.vip}}yes{{else}}false{{/if}}}"),
            new { id = "1", vip = true });

        Assert.Equal("template_error", test.Str("outcome"));
        Assert.Contains("not valid JSON", test.Str("error"), StringComparison.Ordinal);
        Assert.Null(arrived);
    }

    [Fact]
    public async Task Json_helper_inserts_structured_event_data()
    {
        var url = Fixture.Receiver.NewEndpoint();
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var id = (await admin.CreateConnectionAsync(Builders.Connection(url).With("bodyTemplate", "{\"items\": {{json event.items}}, \"order\": \"{{event.orderId}}\"}"))).Id();
        await admin.TestConnectionAsync(id, new { contact = new { id = "1" }, @event = new { orderId = "A-7", items = new[] { new { sku = "X\"1", qty = 2 } } } });

        var body = JsonDocument.Parse(Fixture.Receiver.Received(url)[^1].BodyText).RootElement;
        Assert.Equal("X\"1", body.GetProperty("items")[0].Str("sku"));
        Assert.Equal(2, body.GetProperty("items")[0].GetProperty("qty").GetInt32());
        Assert.Equal("A-7", body.Str("order"));
    }
}
