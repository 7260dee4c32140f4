using System.Net;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Templates against hostile data and hostile authors, as receivers and the API see them: a
/// contact value can never change the shape of a JSON or XML body, add a header, or be run as
/// a template; a template can only read its model (no partials, no file or network helpers)
/// and is stopped by the render limits with a 400 at save or test time and a logged
/// template_error at send time, never a 500 or a stuck worker.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class TemplateSafetyTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    /// <summary>Values that break naive string concatenation in JSON, XML, headers or Handlebars itself.</summary>
    public static TheoryData<string> HostileValues() =>
    [
        "say \"hi\"",
        "back\\slash\\",
        "\\\"}, \"admin\": true, \"x\": {\"",
        "</name><admin>1</admin><name>",
        "]]><admin>1</admin><![CDATA[",
        "&amp; &lt; &#x41; &unknown;",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>&e;",
        "line1\r\nline2\nline3\rline4",
        "tab\there",
        "ctrl \u0001\u0007\b\f\u001b\u007f end",
        "nul \u0000 end",
        "unicode\u2028line\u2029para\u0085nel",
        "{{contact.secret}} {{{contact.secret}}} {{#each contact}}{{this}}{{/each}}",
        "\\{{contact.secret}}",
        "emoji 😀 and accents éàü and 中文",
        "'single' `back`",
    ];

    private async Task<(HttpClient Admin, string Url, string Id)> ConnectionAsync(Dictionary<string, object?> body)
    {
        var account = await NewAccountAsync();
        var admin = account.Admin();
        return (admin, (string)body["url"]!, (await admin.CreateConnectionAsync(body)).Id());
    }

    private static string XmlRepresentable(string value)
    {
        var kept = new System.Text.StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            if (i + 1 < value.Length && XmlConvert.IsXmlSurrogatePair(value[i + 1], value[i]))
            {
                kept.Append(value, i++, 2);
            }
            else if (XmlConvert.IsXmlChar(value[i]))
            {
                kept.Append(value[i]);
            }
        }

        return kept.ToString();
    }

    private static object HostileContact(string value) => new { id = "c-1", firstName = value, note = value, secret = "LEAKED-SECRET" };

    [Theory]
    [MemberData(nameof(HostileValues))]
    public async Task A_hostile_value_arrives_intact_as_one_json_string(string value)
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(url)
            .With("bodyTemplate", "{\"name\": \"{{contact.firstName}}\", \"raw\": {{json contact.note}}, \"fixed\": \"yes\"}"));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id, new { contact = HostileContact(value) });

        Assert.Equal("ok", test.Str("outcome"));
        var body = JsonDocument.Parse(Fixture.Receiver.Received(url)[^1].BodyText).RootElement;
        Assert.Equal(["name", "raw", "fixed"], body.EnumerateObject().Select(p => p.Name));
        Assert.Equal(value, body.Str("name"));
        Assert.Equal(value, body.Str("raw"));
        Assert.Equal("yes", body.Str("fixed"));
        Assert.DoesNotContain("LEAKED-SECRET", Fixture.Receiver.Received(url)[^1].BodyText, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public async Task A_hostile_value_arrives_as_text_in_an_xml_element_and_attribute(string value)
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(url).With("bodyFormat", "xml")
            .With("bodyTemplate", "<contact id=\"{{contact.id}}\" note=\"{{contact.note}}\"><name>{{contact.firstName}}</name><fixed>yes</fixed></contact>"));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id, new { contact = HostileContact(value) });

        Assert.Equal("ok", test.Str("outcome"));
        var arrived = Fixture.Receiver.Received(url)[^1].BodyText;
        var xml = XDocument.Parse(arrived, LoadOptions.PreserveWhitespace);
        Assert.Equal(["name", "fixed"], xml.Root!.Elements().Select(e => e.Name.LocalName));
        Assert.Equal(["id", "note"], xml.Root.Attributes().Select(a => a.Name.LocalName));
        // XML 1.0 cannot carry NUL, most C0 controls or U+FFFE/FFFF, not even as references: those
        // are dropped; every other character arrives as written.
        var representable = XmlRepresentable(value);
        Assert.Equal(representable, xml.Root.Element("name")!.Value);
        Assert.Equal(representable, xml.Root.Attribute("note")!.Value);
        Assert.DoesNotContain("LEAKED-SECRET", arrived, StringComparison.Ordinal);
        Assert.DoesNotContain("<!DOCTYPE", arrived, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public async Task A_hostile_value_inside_a_cdata_section_cannot_close_it(string value)
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(url).With("bodyFormat", "xml")
            .With("bodyTemplate", "<contact><name><![CDATA[{{contact.firstName}}]]></name></contact>"));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id, new { contact = HostileContact(value) });

        // Escaped as XML text, a value is not verbatim inside CDATA, but it can never end the section.
        Assert.Equal("ok", test.Str("outcome"));
        var xml = XDocument.Parse(Fixture.Receiver.Received(url)[^1].BodyText);
        Assert.Equal(["name"], xml.Root!.Elements().Select(e => e.Name.LocalName));
        Assert.Empty(xml.Root.Element("name")!.Elements());
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public async Task A_hostile_value_in_a_text_body_is_not_evaluated_as_a_template(string value)
    {
        var url = Fixture.Receiver.NewEndpoint();
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(url).With("bodyFormat", "text").With("bodyTemplate", "Hello {{contact.firstName}}!"));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id, new { contact = HostileContact(value) });

        Assert.Equal("ok", test.Str("outcome"));
        var arrived = Fixture.Receiver.Received(url)[^1].BodyText;
        Assert.StartsWith("Hello ", arrived, StringComparison.Ordinal);
        Assert.DoesNotContain("LEAKED-SECRET", arrived, StringComparison.Ordinal);
        if (value.Contains("{{", StringComparison.Ordinal))
        {
            Assert.Contains("{{contact.secret}}", arrived, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("ana@example.com\r\nX-Injected: yes")]
    [InlineData("ana@example.com\nX-Injected: yes")]
    [InlineData("ana@example.com\rX-Injected: yes")]
    [InlineData("ana@example.com\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal")]
    [InlineData("ana@example.com\u2028X-Injected: yes")]
    [InlineData("ana@example.com\u0085X-Injected: yes")]
    [InlineData("ana@example.com\u0000X-Injected: yes")]
    [InlineData("ana@example.com\u000bX-Injected: yes")]
    public async Task Line_breaks_in_a_value_cannot_add_a_header_or_a_request(string value)
    {
        // A raw server: it sees the bytes on the wire, so it would see a smuggled line that a
        // framework might fold or reject.
        await using var server = HostileServer.Start(e => e.AnswerAsync(200));
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(server.Url + "?email={{contact.email}}")
            .With("paramsInHeaders", true)
            .With("headers", new Dictionary<string, string> { ["X-Email"] = "{{contact.email}}", ["X-Name"] = "Mr {{contact.firstName}}" }));
        using var _ = admin;

        var email = value;
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            // U+0000 in a contact's email is refused at the door (the log keeps the email in a
            // column of its own, which PostgreSQL refuses it in): the headers see it by the name.
            var refused = await (await admin.PostJsonAsync($"/v1/connections/{id}/test", new { contact = new { id = "c-1", email = value } })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(refused.GetProperty("errors").TryGetProperty("/contact/email", out var field) && field.GetArrayLength() == 1);
            email = "ana@example.com";
        }

        var test = await admin.TestConnectionAsync(id, new { contact = new { id = "c-1", email, firstName = value } });

        Assert.Equal("ok", test.Str("outcome"));
        var arrived = Assert.Single(server.Received);
        Assert.Equal("/hook", arrived.Target);
        var expected = new[] { "Host", "X-Email", "X-Name", "email", "webhook-id", "webhook-timestamp", "webhook-signature", "User-Agent", "Content-Type", "Content-Length" };
        Assert.Equal(expected.Order(StringComparer.OrdinalIgnoreCase), arrived.Headers.Keys.Order(StringComparer.OrdinalIgnoreCase));
        foreach (var name in new[] { "X-Email", "X-Name", "email" })
        {
            Assert.DoesNotContain('\r', arrived.Headers[name]);
            Assert.DoesNotContain('\n', arrived.Headers[name]);
            Assert.Contains("ana@example.com", arrived.Headers[name], StringComparison.Ordinal);
        }

        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task Non_ascii_values_in_headers_are_sent_not_failed()
    {
        await using var server = HostileServer.Start(e => e.AnswerAsync(200));
        var (admin, _, id) = await ConnectionAsync(Builders.Connection(server.Url)
            .With("headers", new Dictionary<string, string> { ["X-Name"] = "{{contact.firstName}}" }));
        using var _ = admin;

        var test = await admin.TestConnectionAsync(id, new { contact = new { id = "c-1", firstName = "José Ünal 中文 😀" } });

        Assert.Equal("ok", test.Str("outcome"));
        Assert.Equal("José Ünal 中文 😀", Assert.Single(server.Received).Headers["X-Name"]);
    }

    [Theory]
    [InlineData("{{> /etc/passwd}}", "partial")]
    [InlineData("{{> ../../../../etc/passwd}}", "partial")]
    [InlineData("{{> (lookup . 'x')}}", "partial")]
    [InlineData("{{#> layout}}x{{/layout}}", "partial")]
    [InlineData("{{#*inline \"p\"}}x{{/inline}}{{> p}}", "")]
    [InlineData("{{readFile \"/etc/passwd\"}}", "readFile")]
    [InlineData("{{include \"/etc/passwd\"}}", "include")]
    [InlineData("{{http \"http://169.254.169.254/latest/meta-data/\"}}", "http")]
    [InlineData("{{fetch \"https://example.com\"}}", "fetch")]
    [InlineData("{{exec \"cat /etc/passwd\"}}", "exec")]
    [InlineData("{{#each (env)}}{{this}}{{/each}}", "env")]
    [InlineData("{{json (file \"/etc/passwd\")}}", "file")]
    public async Task A_template_cannot_read_files_or_call_the_network_and_says_why_at_save_time(string tag, string named)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var url = Fixture.Receiver.NewEndpoint();

        foreach (var (field, body) in new[]
        {
            ("bodyTemplate", Builders.Connection(url).With("bodyFormat", "text").With("bodyTemplate", "x " + tag)),
            ("headers.X-A", Builders.Connection(url).With("headers", new Dictionary<string, string> { ["X-A"] = tag })),
            ("url", Builders.Connection(url + "?q=" + tag)),
        })
        {
            var problem = await (await admin.PostJsonAsync("/v1/connections", body)).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var errors), $"{field} {tag}: {problem.GetRawText()}");
            Assert.Contains(named, errors[0].GetString(), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Empty(Fixture.Receiver.Received(url));
    }

    [Fact]
    public async Task A_template_exploding_on_the_sample_contact_is_a_400_at_save_time()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        // Eight nested loops over the sample contact's five fields: 5^8 = 390,625 iterations.
        var nested = string.Concat(Enumerable.Repeat("{{#each @root.contact}}", 8)) + "x" + string.Concat(Enumerable.Repeat("{{/each}}", 8));
        var started = DateTime.UtcNow;

        var problem = await (await admin.PostJsonAsync("/v1/connections", Builders.Connection(Fixture.Receiver.NewEndpoint()).With("bodyFormat", "text").With("bodyTemplate", nested)))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Contains("loops more than", problem.GetProperty("errors").GetProperty("bodyTemplate")[0].GetString(), StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("{{#each event.items}}{{#each @root.event.items}}{{#each @root.event.items}}x{{/each}}{{/each}}{{/each}}", "loops more than")]
    [InlineData("{{#each event.items}}{{json @root.event}}{{/each}}", "")]
    [InlineData("{{#each event.items}}{{#if (json @root.event)}}{{/if}}{{/each}}", "helpers produce more than")]
    public async Task A_template_that_explodes_on_real_data_is_a_clean_template_error_at_test_and_send_time(string template, string says)
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        // Harmless on the built-in sample (no items), so it saves; the data makes it explode.
        var step = await account.ActiveStepAsync(url, Builders.Connection(url).With("bodyFormat", "text").With("bodyTemplate", "items: " + template));
        var items = Enumerable.Range(0, 100).Select(i => new { sku = new string('s', 2000) + i }).ToArray();
        var explosive = new { contact = new { id = "boom" }, @event = new { items } };

        var test = await step.Admin.TestConnectionAsync(step.ConnectionId, explosive);
        Assert.Equal("template_error", test.Str("outcome"));
        Assert.Contains(says, test.Str("error"), StringComparison.Ordinal);

        var id = (await step.ExecuteAsync(new { contact = new { id = "boom" }, @event = new { items } })).GetProperty("items")[0].Id();
        var failed = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "failed", "the exploding delivery to fail", TimeSpan.FromSeconds(15));
        Assert.Equal("template_error", failed.Str("failureReason"));
        Assert.Equal(1, failed.GetProperty("attempts").GetInt32());

        // The worker that rendered it is free: the next delivery on the same connection goes out.
        var fine = (await step.ExecuteAsync(EngineBuilders.Contact("after-boom"))).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => step.DeliveryAsync(fine), d => d.Str("status") == "succeeded", "the next delivery", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(Fixture.Receiver.Received(url), r => r.BodyText.Contains("ssss", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_url_the_data_makes_invalid_is_a_clean_template_error_at_test_and_send_time()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint();
        var receiver = new Uri(url);
        // The port comes from the contact when it has one: "99999999" is no port at all. It used
        // to throw out of composing, a 500 at test time and, at send time, a row left to its
        // lease and claimed again every lease period, with no attempt logged.
        var templated = $"{receiver.Scheme}://{receiver.Host}:{{{{#if contact.port}}}}{{{{contact.port}}}}{{{{else}}}}{receiver.Port}{{{{/if}}}}{receiver.PathAndQuery}";
        var step = await account.ActiveStepAsync(templated);

        var test = await step.Admin.TestConnectionAsync(step.ConnectionId, new { contact = new { id = "c-1", port = "99999999" } });
        Assert.Equal("template_error", test.Str("outcome"));
        Assert.Contains("URL rendered for this contact is not valid", test.Str("error"), StringComparison.Ordinal);

        var id = (await step.ExecuteAsync(new { contact = new { id = "c-2", port = "99999999" } })).GetProperty("items")[0].Id();
        var failed = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.Str("status") == "failed", "the delivery with no port to fail", TimeSpan.FromSeconds(15));
        Assert.Equal("template_error", failed.Str("failureReason"));
        Assert.Equal(1, failed.GetProperty("attempts").GetInt32());

        var fine = (await step.ExecuteAsync(EngineBuilders.Contact("c-3"))).GetProperty("items")[0].Id();
        await Eventually.WaitAsync(() => step.DeliveryAsync(fine), d => d.Str("status") == "succeeded", "the next delivery", TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_render_stopped_by_the_time_limit_is_retried_on_the_schedule_not_failed()
    {
        // Limit zero: every delivery's render on this node is stopped before it starts, as on a
        // node too busy to finish one in time. Test sends keep the default, so the connection is
        // tested and activated as usual.
        await using var node = await PrivateNode.StartAsync(Fixture, ("Delivery:TemplateRenderTimeLimit", "00:00:00"));
        var url = Fixture.Receiver.NewEndpoint();
        var step = await node.ActiveStepAsync(url, Builders.Connection(url).With("bodyTemplate", "{\"id\": \"{{contact.id}}\"}"));
        var id = (await step.ExecuteAsync(EngineBuilders.Contact("busy-1"))).GetProperty("items")[0].Id();

        var first = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() == 1 && d.Str("status") != "delivering", "the first attempt");
        Assert.Equal("pending", first.Str("status"));
        Assert.Equal(JsonValueKind.Null, first.GetProperty("failureReason").ValueKind);
        Assert.Equal("template_error", first.GetProperty("lastResponse").Str("outcome"));
        Assert.Contains("took longer than 0 s", first.GetProperty("lastResponse").Str("error"), StringComparison.Ordinal);
        var retryAt = first.GetProperty("nextAttemptAt").GetDateTimeOffset();
        Assert.True(retryAt > first.GetProperty("lastAttemptAt").GetDateTimeOffset(), "a retry is scheduled");

        // Due again: attempted again, and still waiting for a render that finishes.
        Fixture.Time.Advance(retryAt - Fixture.Time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var second = await Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() == 2 && d.Str("status") != "delivering", "the retry");
        Assert.Equal("pending", second.Str("status"));
        Assert.DoesNotContain(Fixture.Receiver.Received(url), r => r.BodyText.Contains("busy-1", StringComparison.Ordinal));
    }
}
