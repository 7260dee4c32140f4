using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using WebhooksApi.Templates;

namespace WebhooksApi.Tests.Unit;

public sealed class TemplateRendererTests
{
    private static readonly TemplateRenderer Renderer = new();
    private static readonly DateTimeOffset Timestamp = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);

    // ---------- helpers ----------

    [Theory]
    [InlineData("{}", "Hi there")]
    [InlineData("""{"firstName": null}""", "Hi there")]
    [InlineData("""{"firstName": ""}""", "Hi there")]
    [InlineData("""{"firstName": "Ann"}""", "Hi Ann")]
    public void Default_falls_back_when_the_value_is_missing_null_or_empty(string contact, string expected)
    {
        Assert.Equal(expected, Render("Hi {{default contact.firstName \"there\"}}", TemplateFormat.Text, Model(contact)));
    }

    [Fact]
    public void Default_takes_the_first_present_value_of_several()
    {
        var model = Model("""{"firstName": "Ann"}""");
        Assert.Equal("Ann", Render("{{default contact.nickname contact.firstName 'friend'}}", TemplateFormat.Text, model));
        Assert.Equal("friend", Render("{{default contact.nickname contact.alias 'friend'}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void Json_helper_writes_json_literals_unescaped_into_a_json_body()
    {
        var model = Model(
            """{"firstName": "Ann \"The\" Admin"}""",
            """{"items": [{"sku": "S1", "qty": 2}, {"sku": "S\"2"}], "total": 99.5, "flag": true, "none": null}""");

        var output = Render(
            """{"items":{{json event.items}},"name":{{json contact.firstName}},"total":{{json event.total}},"flag":{{json event.flag}},"none":{{json event.none}},"missing":{{json event.missing}}}""",
            TemplateFormat.Json,
            model);

        Assert.Equal(
            """{"items":[{"sku":"S1","qty":2},{"sku":"S\"2"}],"name":"Ann \"The\" Admin","total":99.5,"flag":true,"none":null,"missing":null}""",
            output);
        using var document = JsonDocument.Parse(output);
        Assert.Equal("S\"2", document.RootElement.GetProperty("items")[1].GetProperty("sku").GetString());
    }

    [Fact]
    public void Json_helper_output_is_escaped_like_any_value_outside_json_bodies()
    {
        var model = Model(@event: """{"items": ["a<b", "c"]}""");
        Assert.Equal("<d>[&quot;a&lt;b&quot;,&quot;c&quot;]</d>", Render("<d>{{json event.items}}</d>", TemplateFormat.Xml, model));
        Assert.Equal("q=%5B%22a%3Cb%22%2C%22c%22%5D", Render("q={{json event.items}}", TemplateFormat.Url, model));
    }

    [Fact]
    public void Urlencode_helper_percent_encodes_and_is_not_encoded_twice_in_a_url()
    {
        var model = Model("""{"email": "a+b c@x.io?&=#/é"}""");
        var expected = Uri.EscapeDataString("a+b c@x.io?&=#/é");
        Assert.Equal(expected, Render("{{urlencode contact.email}}", TemplateFormat.Text, model));
        Assert.Equal("https://x.io/?e=" + expected, Render("https://x.io/?e={{urlencode contact.email}}", TemplateFormat.Url, model));
        Assert.Equal("https://x.io/?e=" + expected, Render("https://x.io/?e={{contact.email}}", TemplateFormat.Url, model));
    }

    [Fact]
    public void Xml_helper_escapes_and_is_not_escaped_twice_in_an_xml_body()
    {
        var model = Model("""{"firstName": "<a href=\"x\">&'"}""");
        const string Escaped = "&lt;a href=&quot;x&quot;&gt;&amp;&apos;";
        Assert.Equal(Escaped, Render("{{xml contact.firstName}}", TemplateFormat.Text, model));
        Assert.Equal("<n>" + Escaped + "</n>", Render("<n>{{xml contact.firstName}}</n>", TemplateFormat.Xml, model));

        var json = Render("""{"n": "{{xml contact.firstName}}"}""", TemplateFormat.Json, model);
        using var document = JsonDocument.Parse(json);
        Assert.Equal(Escaped, document.RootElement.GetProperty("n").GetString());
    }

    [Theory]
    [InlineData("2026-03-04T05:06:07Z", "yyyy-MM-dd", "2026-03-04")]
    [InlineData("2026-03-04T23:30:00+02:00", "yyyy-MM-dd HH:mm zzz", "2026-03-04 23:30 +02:00")]
    [InlineData("2026-03-04T23:30:00.123Z", "HH:mm:ss.fff", "23:30:00.123")]
    [InlineData("2026-03-04", "dd/MM/yyyy", "04/03/2026")]
    [InlineData("not a date", "yyyy-MM-dd", "not a date")]
    [InlineData("03/04/2026", "yyyy-MM-dd", "03/04/2026")]
    [InlineData("2026-13-45T00:00:00Z", "yyyy-MM-dd", "2026-13-45T00:00:00Z")]
    public void FormatDate_formats_iso_input_and_leaves_anything_else_as_it_was(string value, string format, string expected)
    {
        var model = Model(@event: new JsonObject { ["date"] = value, ["format"] = format }.ToJsonString());
        Assert.Equal(expected, Render("{{formatDate event.date event.format}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void FormatDate_without_a_value_renders_empty_and_never_throws()
    {
        var model = Model(@event: """{"date": "2026-03-04T05:06:07Z"}""");
        Assert.Equal("[]", Render("[{{formatDate event.missing 'yyyy'}}]", TemplateFormat.Text, model));
        Assert.Equal("[2026-03-04T05:06:07Z]", Render("[{{formatDate event.date}}]", TemplateFormat.Text, model));
        Assert.Equal("2026-03-04 05:06", Render("{{formatDate webhook.timestamp 'yyyy-MM-dd HH:mm'}}", TemplateFormat.Text, model));
    }

    // ---------- escaping by format ----------

    public static TheoryData<string> HostileValues() => new()
    {
        "\"}, \"admin\": true, \"x\": {\"",
        "\\\"}, \\\"admin\\\": true",
        "back\\slash\\",
        "line\nbreak\r\ttab",
        "\u2028\u2029",
        "</script><b>bold</b>",
        "\u0000\u0001\u001f\u007f",
        "😀 é ü 中文",
        "{{contact.email}}",
        "& &amp; ' \"",
    };

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void Json_body_escapes_hostile_values_so_the_document_keeps_its_keys(string hostile)
    {
        var model = Model(new JsonObject { ["firstName"] = hostile, ["email"] = hostile }.ToJsonString());

        var output = Render("""{"name": "{{contact.firstName}}", "email": "{{contact.email}}"}""", TemplateFormat.Json, model);

        using var document = JsonDocument.Parse(output);
        Assert.Equal(["name", "email"], document.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(hostile, document.RootElement.GetProperty("name").GetString());
        Assert.Equal(hostile, document.RootElement.GetProperty("email").GetString());
        Assert.DoesNotContain('\u2028', output);
        Assert.DoesNotContain('\n', output);
    }

    [Fact]
    public void Json_body_cannot_gain_an_admin_key_from_a_contact_name()
    {
        var model = Model("""{"firstName": "\"}, \"admin\": true, \"x\": {\""}""");

        var output = Render("""{"user": {"name": "{{contact.firstName}}"}, "admin": false}""", TemplateFormat.Json, model);

        Assert.Equal("""{"user": {"name": "\"}, \"admin\": true, \"x\": {\""}, "admin": false}""", output);
        using var document = JsonDocument.Parse(output);
        Assert.False(document.RootElement.GetProperty("admin").GetBoolean());
        Assert.Equal(["name"], document.RootElement.GetProperty("user").EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [MemberData(nameof(HostileValues))]
    public void Xml_body_escapes_hostile_values_in_text_and_attributes(string hostile)
    {
        var model = Model(new JsonObject { ["firstName"] = hostile }.ToJsonString());

        var output = Render("""<c><name a="{{contact.firstName}}" b='{{contact.firstName}}'>{{contact.firstName}}</name></c>""", TemplateFormat.Xml, model);

        var root = XDocument.Parse(output, LoadOptions.PreserveWhitespace).Root!;
        var name = Assert.Single(root.Elements());
        Assert.Equal("name", name.Name.LocalName);
        Assert.Empty(name.Elements());
        var expected = WithoutXmlInvalidChars(hostile);
        Assert.Equal(expected, name.Value);
        Assert.Equal(expected, name.Attribute("a")!.Value);
        Assert.Equal(expected, name.Attribute("b")!.Value);
    }

    [Fact]
    public void Xml_body_escapes_markup_characters()
    {
        var model = Model("""{"firstName": "</a><b>&\"'"}""");
        Assert.Equal("<a>&lt;/a&gt;&lt;b&gt;&amp;&quot;&apos;</a>", Render("<a>{{contact.firstName}}</a>", TemplateFormat.Xml, model));
    }

    [Fact]
    public void Url_values_are_percent_encoded_so_the_query_keeps_its_parameters()
    {
        const string Hostile = "a+b c@x.io?admin=true&x=1#frag/..é中";
        var model = Model(new JsonObject { ["email"] = Hostile, ["firstName"] = "Jo Ann" }.ToJsonString());

        var output = Render("https://x.io/promo?email={{contact.email}}&name={{contact.firstName}}", TemplateFormat.Url, model);

        var uri = new Uri(output);
        Assert.Equal("x.io", uri.Host);
        Assert.Equal("/promo", uri.AbsolutePath);
        Assert.Equal(string.Empty, uri.Fragment);
        var query = uri.Query.TrimStart('?').Split('&').Select(p => p.Split('=')).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
        Assert.Equal(["email", "name"], query.Keys);
        Assert.Equal(Hostile, query["email"]);
        Assert.Equal("Jo Ann", query["name"]);
        Assert.Equal("https://x.io/promo?email=" + Uri.EscapeDataString(Hostile) + "&name=Jo%20Ann", output);
    }

    [Fact]
    public void Numbers_keep_their_written_form_within_decimal_precision_and_are_encoded_like_text()
    {
        var model = Model(@event: """{"huge": 1e300, "exact": 79228162514264337593543950335, "precise": 0.1000000000000000055511151231257827}""");
        Assert.Equal("1E%2B300", Render("{{event.huge}}", TemplateFormat.Url, model));
        Assert.Equal("1E+300|79228162514264337593543950335|0.1000000000000000055511151231", Render("{{event.huge}}|{{event.exact}}|{{event.precise}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void Header_values_lose_line_breaks_and_control_characters()
    {
        var model = Model(variables: new JsonObject { ["token"] = "abc\r\nX-Admin: true\n\u0000\u0085\u2028\t!" }.ToJsonString());

        var output = Render("Bearer {{variables.token}}", TemplateFormat.Header, model);

        Assert.Equal("Bearer abcX-Admin: true!", output);
        Assert.DoesNotContain(output, char.IsControl);
    }

    [Fact]
    public void Text_inserts_values_as_they_are()
    {
        var model = Model("""{"firstName": "<\"&'>\n"}""");
        Assert.Equal("Hi <\"&'>\n!", Render("Hi {{contact.firstName}}!", TemplateFormat.Text, model));
    }

    [Theory]
    [InlineData("Json")]
    [InlineData("Xml")]
    [InlineData("Url")]
    [InlineData("Header")]
    public void Triple_stash_is_refused_where_values_must_be_escaped(string format)
    {
        var result = Renderer.Compile("line one\n  x {{{contact.firstName}}}", Enum.Parse<TemplateFormat>(format));

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Syntax, result.Validation.Kind);
        Assert.Equal(2, result.Validation.Line);
        Assert.Equal(5, result.Validation.Column);
        Assert.Contains("triple-stash", result.Validation.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{~{contact.firstName}~}}")]
    [InlineData("{{& contact.firstName}}")]
    [InlineData("\\{{{contact.firstName}}}")]
    [InlineData("{{{{raw}}}}{{contact.firstName}}{{{{/raw}}}}")]
    public void Every_unescaped_insertion_form_is_refused_in_json(string template)
    {
        Assert.False(Renderer.Compile(template, TemplateFormat.Json).Ok);
    }

    [Fact]
    public void Triple_stash_is_allowed_in_text_templates()
    {
        var model = Model("""{"firstName": "<b>"}""");
        Assert.Equal("<b>|<b>", Render("{{{contact.firstName}}}|{{contact.firstName}}", TemplateFormat.Text, model));
    }

    // ---------- the model ----------

    [Fact]
    public void Property_lookup_ignores_case()
    {
        var model = Model("""{"firstName": "Ann", "Custom_Field": 7}""");
        Assert.Equal(
            "Ann|Ann|Ann|7|7",
            Render("{{contact.firstName}}|{{contact.firstname}}|{{CONTACT.FIRSTNAME}}|{{contact.custom_field}}|{{Contact.Custom_Field}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void Nested_event_values_and_arrays_are_reachable()
    {
        var model = Model(@event: """
            {"order": {"id": "A-1", "items": [{"sku": "S1", "qty": 2}, {"sku": "S2", "qty": 1}],
             "total": 99.50, "paid": true, "note": null, "big": 12345678901234567890, "tags": []}}
            """);

        var output = Render(
            "{{event.order.items.0.sku}}|{{event.order.items.[1].sku}}|{{event.order.items.length}}|"
            + "{{#each event.order.items}}{{@index}}:{{sku}}x{{qty}}{{#unless @last}},{{/unless}}{{/each}}|"
            + "{{#each event.order.items as |item i|}}{{i}}={{item.sku}};{{/each}}|"
            + "{{event.order.total}}|{{event.order.paid}}|[{{event.order.note}}]|{{event.order.big}}|"
            + "{{#if event.order.tags}}tags{{else}}no tags{{/if}}|{{#with event.order}}{{id}}{{/with}}|{{lookup event.order 'id'}}",
            TemplateFormat.Text,
            model);

        Assert.Equal("S1|S2|2|0:S1x2,1:S2x1|0=S1;1=S2;|99.50|true|[]|12345678901234567890|no tags|A-1|A-1", output);
    }

    [Fact]
    public void Each_over_an_object_gives_keys_and_values()
    {
        var model = Model(variables: """{"a": 1, "b": "two"}""");
        Assert.Equal("a=1;b=two;", Render("{{#each variables}}{{@key}}={{this}};{{/each}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void Missing_values_render_as_empty_strings()
    {
        var model = Model(@event: """{"items": []}""");
        Assert.Equal(
            "[][][][][]",
            Render("[{{contact.nope}}][{{nope.deeper.still}}][{{event.items.9.sku}}][{{event.items.0}}][{{../../x}}]", TemplateFormat.Text, model));
    }

    [Fact]
    public void Objects_print_as_json_and_are_escaped_as_one_value()
    {
        var model = Model(@event: """{"order": {"id": "A\"1", "n": [1, 2.5, true, null]}}""");

        var output = Render("""{"order": "{{event.order}}"}""", TemplateFormat.Json, model);

        using var document = JsonDocument.Parse(output);
        Assert.Equal("""{"id":"A\"1","n":[1,2.5,true,null]}""", document.RootElement.GetProperty("order").GetString());
    }

    [Fact]
    public void Element_and_node_inputs_give_the_same_model()
    {
        const string Contact = """{"firstName": "Ann", "tags": ["a", "b"], "score": 1.50, "vip": false}""";
        const string Event = """{"order": {"items": [{"sku": "S1"}]}}""";
        const string Template = "{{contact.firstName}} {{json contact.tags}} {{contact.score}} {{contact.vip}} {{event.order.items.0.sku}}";
        using var contact = JsonDocument.Parse(Contact);
        using var @event = JsonDocument.Parse(Event);
        using var variables = JsonDocument.Parse("{}");

        var fromElements = TemplateModel.Create(contact.RootElement, @event.RootElement, variables.RootElement, "acc-1", "Acme", "wh-1", Timestamp);
        var fromNodes = TemplateModel.Create(JsonNode.Parse(Contact), JsonNode.Parse(Event), null, "acc-1", "Acme", "wh-1", Timestamp);
        var fromBuiltNodes = TemplateModel.Create(
            new JsonObject { ["firstName"] = "Ann", ["tags"] = new JsonArray("a", "b"), ["score"] = 1.50m, ["vip"] = false },
            JsonNode.Parse(Event),
            new JsonObject(),
            "acc-1",
            "Acme",
            "wh-1",
            Timestamp);

        const string Expected = """Ann ["a","b"] 1.50 false S1""";
        Assert.Equal(Expected, Render(Template, TemplateFormat.Text, fromElements));
        Assert.Equal(Expected, Render(Template, TemplateFormat.Text, fromNodes));
        Assert.Equal(Expected, Render(Template, TemplateFormat.Text, fromBuiltNodes));
    }

    [Fact]
    public void Account_and_webhook_fields_are_in_the_model()
    {
        Assert.Equal(
            "acc-1 Acme wh-1 2026-03-04T05:06:07.000Z",
            Render("{{account.id}} {{account.name}} {{webhook.id}} {{webhook.timestamp}}", TemplateFormat.Text, Model()));
    }

    [Fact]
    public void Strings_are_not_loops()
    {
        var model = Model("""{"email": "someone@example.org"}""");
        Assert.Equal("none|19", Render("{{#each contact.email}}x{{else}}none{{/each}}|{{contact.email.length}}", TemplateFormat.Text, model));
    }

    [Fact]
    public void A_brace_right_after_a_tag_stays_a_literal_brace()
    {
        var model = Model(@event: """{"items": [1, 2], "n": 5}""");

        Assert.Equal("""{"items":[1,2]}""", Render("""{"items":{{json event.items}}}""", TemplateFormat.Json, model));
        Assert.Equal("""{"a":{"b":5}}""", Render("""{"a":{"b":{{event.n}}}}""", TemplateFormat.Json, model));
        Assert.Equal("""{"a":{"b":5}}""", Render("""{"a":{"b":{{!-- note --}}{{event.n}}}}""", TemplateFormat.Json, model));
        Assert.True(Renderer.Validate("""{"total":{{event.total}}, "items":[{{#each event.items}}{{this}}{{#unless @last}},{{/unless}}{{/each}}]}""", TemplateFormat.Json).Ok);
    }

    [Fact]
    public void Escaped_mustaches_render_literally()
    {
        Assert.Equal("{{contact.email}}", Render("\\{{contact.email}}", TemplateFormat.Text, Model("""{"email": "x"}""")));
    }

    // ---------- compile errors ----------

    [Fact]
    public void An_unclosed_if_is_reported_at_its_line_and_column()
    {
        const string Template = "{\n  \"a\": 1,\n  {{#if contact.email}}\"b\": 2\n}";

        var result = Renderer.Compile(Template, TemplateFormat.Json);

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Syntax, result.Validation.Kind);
        Assert.Equal(3, result.Validation.Line);
        Assert.Equal(3, result.Validation.Column);
        Assert.Contains("{{/if}}", result.Validation.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\n{{#each event.items}}x{{/if}}", 2, 23, "does not match")]
    [InlineData("a\nb {{/if}}", 2, 3, "never opened")]
    [InlineData("ab\ncd {{contact.email", 2, 4, "not closed")]
    [InlineData("ab\ncd {{contact.email}\nmore", 2, 4, "not closed")]
    [InlineData("x {{default contact.email \"oops}}", 1, 3, "string")]
    [InlineData("\n\n   {{#each}}x{{/each}}", 3, 4, "needs a value")]
    [InlineData("{{else}}", 1, 1, "inside a block")]
    [InlineData("{{#if a}}1{{else}}2{{else}}3{{/if}}", 1, 20, "already has")]
    [InlineData("{{^}}", 1, 1, "else")]
    [InlineData("{{}}", 1, 1, "Empty tag")]
    [InlineData("{{default (json a}}", 1, 1, "'(' in this tag is not closed")]
    [InlineData("{{!-- never closed }}", 1, 1, "comment")]
    [InlineData("x{{#if a}}{{/if b}}", 1, 11, "only the block's name")]
    [InlineData("{{#each a}}\n {{default bar=}}{{/each}}", 2, 2, "no value")]
    public void Syntax_errors_carry_line_and_column(string template, int line, int column, string message)
    {
        var result = Renderer.Compile(template, TemplateFormat.Text);

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Syntax, result.Validation.Kind);
        Assert.Contains(message, result.Validation.Error, StringComparison.Ordinal);
        Assert.Equal(line, result.Validation.Line);
        Assert.Equal(column, result.Validation.Column);
    }

    [Theory]
    [InlineData("{\"a\": {{json event.a}}}\nline two {{#each a as |x}}{{/each}}", "could not be converted")] // no position from Handlebars: found by compiling tags alone
    [InlineData("{\"a\": {{json event.a}}}\nline two {{default a %}}", "unparseable token")] // "Occured at" position, mapped back through the brace rewrite
    public void Errors_found_by_handlebars_itself_are_located_at_their_tag(string template, string message)
    {
        var result = Renderer.Compile(template, TemplateFormat.Json);

        Assert.False(result.Ok);
        Assert.Contains(message, result.Validation.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Occured at", result.Validation.Error, StringComparison.Ordinal);
        Assert.Equal(2, result.Validation.Line);
        Assert.Equal(10, result.Validation.Column);
    }

    [Fact]
    public void A_template_over_the_length_limit_is_refused()
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { MaxTemplateLength = 100 });
        var result = renderer.Compile(new string('x', 101), TemplateFormat.Text);
        Assert.False(result.Ok);
        Assert.Null(result.Validation.Line);
        Assert.Contains("at most 100", result.Validation.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_block_nesting_is_refused()
    {
        var template = string.Concat(Enumerable.Repeat("{{#if a}}", 40)) + string.Concat(Enumerable.Repeat("{{/if}}", 40));
        var result = Renderer.Compile(template, TemplateFormat.Text);
        Assert.False(result.Ok);
        Assert.Contains("nested more than 32", result.Validation.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{shout contact.firstName}}")]
    [InlineData("ok\n{{#if contact.vip}}{{shout contact.firstName}}{{/if}}")]
    [InlineData("{{#repeat 3}}x{{/repeat}}")]
    [InlineData("{{json (shout contact.firstName)}}")]
    [InlineData("{{#if (shout contact.firstName)}}x{{/if}}")]
    [InlineData("{{#if a}}x{{else shout b}}y{{/if}}")]
    [InlineData("{{log 'hello'}}")]
    [InlineData("{{_braces 3}}")]
    [InlineData("{{> etc_passwd}}")]
    [InlineData("{{> (lookup . 'x')}}")]
    [InlineData("{{#> layout}}x{{/layout}}")]
    [InlineData("{{#*inline \"p\"}}x{{/inline}}")]
    [InlineData("{{*decorator}}")]
    [InlineData("{{#json contact}}x{{/json}}")]
    [InlineData("{{if contact.email}}")]
    public void Unknown_helpers_partials_and_decorators_are_refused_at_compile_time(string template)
    {
        var result = Renderer.Compile(template, TemplateFormat.Text);

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Syntax, result.Validation.Kind);
        Assert.NotNull(result.Validation.Line);
        Assert.NotNull(result.Validation.Column);
    }

    // ---------- save-time validation ----------

    [Fact]
    public void A_typical_json_template_validates_against_the_sample_contact()
    {
        var result = Renderer.Validate(
            """
            {
              "email": "{{contact.email}}",
              "greeting": "Hello {{default contact.firstname "there"}}",
              "order": "{{event.orderId}}",
              "total": {{event.total}},
              "sentAt": "{{formatDate webhook.timestamp "yyyy-MM-dd"}}"
            }
            """,
            TemplateFormat.Json);

        Assert.True(result.Ok, result.ToString());
        using var document = JsonDocument.Parse(result.RenderedSample!);
        Assert.Equal("Hello John", document.RootElement.GetProperty("greeting").GetString());
        Assert.Equal(99.5m, document.RootElement.GetProperty("total").GetDecimal());
        Assert.Equal("john.doe@example.org", document.RootElement.GetProperty("email").GetString());
    }

    [Fact]
    public void Json_validation_reports_the_parsers_line_and_column()
    {
        const string Template = "{\n  \"name\": \"{{contact.firstName}}\"\n  \"email\": \"{{contact.email}}\"\n}";

        var result = Renderer.Validate(Template, TemplateFormat.Json);

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Output, result.Kind);
        Assert.Equal(3, result.Line);
        Assert.Equal(3, result.Column);
        Assert.Contains("not valid JSON", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("BytePositionInLine", result.Error, StringComparison.Ordinal);
        Assert.Contains("\"John\"", result.RenderedSample, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_validation_counts_columns_in_characters()
    {
        var result = Renderer.Validate("{\"é€😀\": x}", TemplateFormat.Json);

        Assert.False(result.Ok);
        Assert.Equal(1, result.Line);
        Assert.Equal(10, result.Column);
    }

    [Fact]
    public void A_value_outside_quotes_in_json_is_caught_by_validation()
    {
        var result = Renderer.Validate("{\"name\": {{contact.firstName}}}", TemplateFormat.Json);
        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Output, result.Kind);
        Assert.Equal(1, result.Line);
        Assert.Equal(10, result.Column);
    }

    [Fact]
    public void Xml_validation_reports_the_parsers_line_and_column()
    {
        var result = Renderer.Validate("<a>\n  <b>{{contact.firstName}}</c>\n</a>", TemplateFormat.Xml);

        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Output, result.Kind);
        Assert.Equal(2, result.Line);
        Assert.Equal(12, result.Column);
        Assert.Contains("not valid XML", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Xml_validation_accepts_well_formed_output_and_refuses_dtds()
    {
        Assert.True(Renderer.Validate("<?xml version=\"1.0\"?>\n<c id=\"{{contact.id}}\">{{contact.email}}</c>", TemplateFormat.Xml).Ok);

        var withDtd = Renderer.Validate("<!DOCTYPE c [<!ENTITY x \"y\">]><c>&x;</c>", TemplateFormat.Xml);
        Assert.False(withDtd.Ok);
        Assert.Equal(TemplateErrorKind.Output, withDtd.Kind);
    }

    [Fact]
    public void Validation_of_a_template_that_does_not_compile_reports_the_syntax_error()
    {
        var result = Renderer.Validate("{\"a\": \"{{shout contact.email}}\"}", TemplateFormat.Json);
        Assert.False(result.Ok);
        Assert.Equal(TemplateErrorKind.Syntax, result.Kind);
        Assert.Equal(1, result.Line);
        Assert.Equal(8, result.Column);
    }

    [Fact]
    public void Url_and_header_validation_return_the_rendered_sample()
    {
        var url = Renderer.Validate("https://x.io/promo?email={{contact.email}}", TemplateFormat.Url);
        Assert.True(url.Ok);
        Assert.Equal("https://x.io/promo?email=john.doe%40example.org", url.RenderedSample);

        var header = Renderer.Validate("Contact {{contact.id}}", TemplateFormat.Header);
        Assert.True(header.Ok);
        Assert.Equal("Contact 54321", header.RenderedSample);
    }

    // ---------- limits ----------

    [Fact]
    public void Output_is_capped()
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { MaxOutputChars = 1000 });
        var model = Model(@event: new JsonObject { ["items"] = new JsonArray(Enumerable.Range(0, 200).Select(i => (JsonNode?)"0123456789").ToArray()) }.ToJsonString());

        var error = Assert.Throws<TemplateException>(() => renderer.Render("{{#each event.items}}{{this}}{{/each}}", TemplateFormat.Text, model, CancellationToken.None));

        Assert.Equal(TemplateErrorKind.Render, error.Kind);
        Assert.Contains("longer than 1000", error.Message, StringComparison.Ordinal);
        Assert.Equal(new string('x', 1000), renderer.Render("{{event.s}}", TemplateFormat.Text, Model(@event: $"{{\"s\": \"{new string('x', 1000)}\"}}"), CancellationToken.None));
    }

    [Fact]
    public void Default_output_cap_is_one_mebibyte()
    {
        var model = Model(@event: new JsonObject
        {
            ["blob"] = new string('x', 100_000),
            ["items"] = new JsonArray(Enumerable.Range(0, 11).Select(i => (JsonNode?)i).ToArray()),
        }.ToJsonString());

        Assert.Throws<TemplateException>(() => Render("{{#each event.items}}{{@root.event.blob}}{{/each}}", TemplateFormat.Text, model));
        Assert.Equal(1_000_000, Render("{{#each event.items}}{{#unless @last}}{{@root.event.blob}}{{/unless}}{{/each}}", TemplateFormat.Text, model).Length);
    }

    [Fact]
    public void Nested_loops_that_write_nothing_still_hit_the_iteration_limit()
    {
        var model = Model(@event: new JsonObject { ["items"] = new JsonArray(Enumerable.Range(0, 100).Select(i => (JsonNode?)i).ToArray()) }.ToJsonString());
        const string Template = "{{#each event.items}}{{#each @root.event.items}}{{#each @root.event.items}}{{/each}}{{/each}}{{/each}}";

        var error = Assert.Throws<TemplateException>(() => Render(Template, TemplateFormat.Text, model));

        Assert.Equal(TemplateErrorKind.Render, error.Kind);
        Assert.Contains("loops more than 100000", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{#each variables}}{{/each}}")]
    [InlineData("{{#each event.items}}{{/each}}")]
    [InlineData("{{#event.items}}{{/event.items}}")]
    [InlineData("{{#each event.items as |x|}}{{#each x}}{{/each}}{{/each}}")]
    public void Every_kind_of_loop_counts_against_the_iteration_limit(string template)
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { MaxIterations = 5 });
        var model = Model(@event: """{"items": [[1], [2], [3]]}""", variables: """{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}""");
        var error = Assert.Throws<TemplateException>(() => renderer.Render(template + template, TemplateFormat.Text, model, CancellationToken.None));
        Assert.Contains("loops more than 5", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Helper_work_that_never_reaches_the_output_is_limited()
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { MaxHelperChars = 50_000 });
        var model = Model(@event: new JsonObject
        {
            ["blob"] = new string('x', 10_000),
            ["items"] = new JsonArray(Enumerable.Range(0, 100).Select(i => (JsonNode?)i).ToArray()),
        }.ToJsonString());

        var error = Assert.Throws<TemplateException>(() => renderer.Render("{{#each event.items}}{{#if (json @root)}}{{/if}}{{/each}}", TemplateFormat.Text, model, CancellationToken.None));

        Assert.Contains("helpers produce more than 50000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cancelled_render_stops()
    {
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        var compiled = Renderer.Compile("{{#each event.items}}{{this}}{{/each}}", TemplateFormat.Text);
        Assert.True(compiled.Ok);

        Assert.ThrowsAny<OperationCanceledException>(() => Renderer.Render(compiled.Template, Model(@event: """{"items": [1, 2, 3]}"""), cancellation.Token));
    }

    [Fact]
    public void A_render_after_a_failed_one_on_the_same_thread_starts_clean()
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { MaxOutputChars = 10 });
        Assert.Throws<TemplateException>(() => renderer.Render("{{event.s}}", TemplateFormat.Text, Model(@event: """{"s": "0123456789ABC"}"""), CancellationToken.None));

        Assert.Equal("ok", renderer.Render("ok", TemplateFormat.Text, Model(), CancellationToken.None));
    }

    // ---------- cache and concurrency ----------

    [Fact]
    public void Compiled_templates_are_cached_by_format_and_text()
    {
        var renderer = new TemplateRenderer();
        var first = renderer.Compile("{{contact.email}}", TemplateFormat.Json);
        var again = renderer.Compile("{{contact.email}}", TemplateFormat.Json);
        var otherFormat = renderer.Compile("{{contact.email}}", TemplateFormat.Url);

        Assert.Same(first.Template, again.Template);
        Assert.NotSame(first.Template, otherFormat.Template);
        Assert.Equal(TemplateFormat.Url, otherFormat.Template!.Format);
        Assert.Equal(2, renderer.CachedCount);
    }

    [Fact]
    public void The_cache_is_bounded_and_keeps_recently_used_templates()
    {
        var renderer = new TemplateRenderer(TemplateLimits.Default with { CacheCapacity = 8 });
        var hot = renderer.Compile("hot {{contact.id}}", TemplateFormat.Text);

        for (var i = 0; i < 50; i++)
        {
            Assert.True(renderer.Compile($"t{i} {{{{contact.id}}}}", TemplateFormat.Text).Ok);
            Assert.Same(hot.Template, renderer.Compile("hot {{contact.id}}", TemplateFormat.Text).Template);
            Assert.InRange(renderer.CachedCount, 1, 8);
        }
    }

    [Fact]
    public void One_template_renders_correctly_from_many_threads_at_once()
    {
        var compiled = Renderer.Compile("""{"email": "{{contact.email}}", "n": {{#each event.items}}{{this}}{{/each}}}""", TemplateFormat.Json);
        Assert.True(compiled.Ok);

        var outputs = new string[64];
        Parallel.For(0, outputs.Length, i =>
        {
            var model = Model(new JsonObject { ["email"] = $"u{i}@x.io" }.ToJsonString(), $"{{\"items\": [{i}, {i}]}}");
            outputs[i] = Renderer.Render(compiled.Template!, model, CancellationToken.None);
        });

        for (var i = 0; i < outputs.Length; i++)
        {
            Assert.Equal($$"""{"email": "u{{i}}@x.io", "n": {{i}}{{i}}}""", outputs[i]);
        }
    }

    private static string Render(string template, TemplateFormat format, TemplateModel model) =>
        Renderer.Render(template, format, model, CancellationToken.None);

    private static TemplateModel Model(string contact = "{}", string @event = "{}", string variables = "{}") =>
        TemplateModel.Create(JsonNode.Parse(contact), JsonNode.Parse(@event), JsonNode.Parse(variables), "acc-1", "Acme", "wh-1", Timestamp);

    [Theory]
    [InlineData("""{"id": "c-1", "firstName": "\ud800"}""")]
    [InlineData("""{"id": "c-1", "\udc00": "x"}""")]
    [InlineData("""{"id": "c-1", "tags": ["a", "\ud800b"]}""")]
    [InlineData("""{"id": "c-1", "x": {"k": 1, "k": 2}}""")]
    public void A_payload_that_cannot_be_read_is_a_template_error_not_an_exception_out_of_the_send(string contact)
    {
        // Stored before the API refused such text: every attempt would read it the same way, so
        // it fails as the contact's template error instead of throwing out of composing.
        var input = new WebhooksApi.Delivery.MessageInput((JsonObject)JsonNode.Parse(contact)!, [], [], Guid.NewGuid(), "Acme", "msg_1", "webhook.delivery", Timestamp);

        var error = Assert.Throws<WebhooksApi.Features.Connections.TemplateRenderException>(() => WebhooksApi.Features.Connections.ConnectionTemplates.Model(input));

        Assert.Equal(WebhooksApi.Features.Connections.ConnectionTemplates.UnreadablePayload, error.Message);
        // Without a template the default envelope reads it too: a template error as well, or the text as stored.
        try
        {
            Assert.Contains("c-1", WebhooksApi.Delivery.RequestComposer.DefaultEnvelope(input), StringComparison.Ordinal);
        }
        catch (WebhooksApi.Features.Connections.TemplateRenderException envelope)
        {
            Assert.Equal(WebhooksApi.Features.Connections.ConnectionTemplates.UnreadablePayload, envelope.Message);
        }
    }

    private static string WithoutXmlInvalidChars(string value) =>
        new(value.Where(c => c is '\t' or '\n' or '\r' || (c >= ' ' && c != '\uFFFE' && c != '\uFFFF')).ToArray());
}
