using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using WebhooksApi.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Bad input on every operation of the served OpenAPI document: malformed JSON, wrong types,
/// missing required fields, nulls, huge strings, 1,000-level nesting, unknown enum values, 2 MB
/// bodies, invalid ids, cursors and query values. Every answer must be a 4xx problem document,
/// and a refused request must leave every row of the account as it was.
/// </summary>
public abstract class OpenApiFuzzTests<TFixture>(TFixture fixture, ITestOutputHelper output) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>One generated request; <paramref name="MustRefuse"/> when no reading of the input could make it valid.</summary>
    private sealed record FuzzCase(string Family, string Label, Func<HttpRequestMessage> Build, bool MustRefuse);

    [SkippableFact]
    public async Task Every_operation_answers_bad_input_with_a_4xx_problem_and_writes_nothing()
    {
        SkipIfUnavailable();
        var seed = await SeededAccount.CreateAsync(Fixture);
        using var admin = seed.Account.Admin();
        using var operatorClient = Fixture.Client(ApiFixture.OperatorKey);
        var api = await ApiSurface.LoadAsync(admin);

        var failures = new List<string>();
        var tried = new SortedDictionary<string, SortedDictionary<int, int>>(StringComparer.Ordinal);
        var accepted = new List<string>();
        var operations = 0;
        var rows = await AccountRows.SnapshotAsync(Fixture.Factory.Services, seed.Account.Id);
        foreach (var operation in api.Operations.Where(o => o.Body is not null || o.PathParameter is not null || o.QueryParameters.Any()))
        {
            operations++;
            var client = operation.Scopes.Count == 0 && operation.Authenticated ? operatorClient : admin;
            foreach (var fuzz in Cases(api, operation, seed))
            {
                using var request = fuzz.Build();
                using var response = await client.SendAsync(request);
                var where = $"{operation} [{fuzz.Family}: {fuzz.Label}]";
                var status = (int)response.StatusCode;
                var statuses = tried.TryGetValue(fuzz.Family, out var s) ? s : tried[fuzz.Family] = [];
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                if (status >= 500 || status < 200 || (status < 400 && fuzz.MustRefuse) || (status >= 400 && !Answers.IsProblem(response)))
                {
                    failures.Add($"{where} -> {await Answers.DescribeAsync(response)}");
                }

                if (status < 400)
                {
                    accepted.Add($"{where} -> {status}");
                }

                if (operation.Method == "GET")
                {
                    continue;
                }

                var after = await AccountRows.SnapshotAsync(Fixture.Factory.Services, seed.Account.Id);
                if (status >= 400 && AccountRows.Diff(rows, after) is { Length: > 0 } diff)
                {
                    failures.Add($"{where} -> {status} but rows changed: {diff}");
                }

                rows = after;
            }
        }

        output.WriteLine($"{Fixture.Provider}: {operations} operations fuzzed, {tried.Values.Sum(s => s.Values.Sum())} requests");
        foreach (var (family, statuses) in tried)
        {
            output.WriteLine($"  {family}: {statuses.Values.Sum()} ({string.Join(", ", statuses.Select(s => $"{s.Value}x {s.Key}"))})");
        }

        output.WriteLine($"accepted as valid (allowed for inputs a field may legitimately hold): {accepted.Count}");
        foreach (var line in accepted)
        {
            output.WriteLine("  " + line);
        }

        Assert.True(operations >= 30, $"only {operations} operations found in the OpenAPI document");
        Assert.True(failures.Count == 0, $"{failures.Count} bad answers:\n{string.Join('\n', failures)}");
    }

    private static IEnumerable<FuzzCase> Cases(ApiSurface api, ApiOperation operation, SeededAccount seed)
    {
        var path = operation.PathWith(operation.PathParameter is null ? null : seed.IdFor(operation));
        var sample = operation.Body is { } schema ? api.Sample(schema, "body", seed) : null;
        HttpContent? Valid() => sample is null ? null : Answers.JsonText(sample.ToJsonString());

        if (operation.PathParameter is not null)
        {
            string[] ids = ["not-an-id", Guid.NewGuid().ToString(), "' OR '1'='1", "../../v1/api-keys", new string('9', 3000), seed.IdFor(operation) + "x"];
            foreach (var id in ids)
            {
                yield return new("invalid id", id.Length > 40 ? id[..40] + "..." : id, () => Answers.Request(operation.Method, operation.PathWith(id), Valid()), true);
            }
        }

        foreach (var parameter in operation.QueryParameters)
        {
            var (_, type, _) = api.Describe(parameter.Schema);
            var format = parameter.Schema.ValueKind == System.Text.Json.JsonValueKind.Object && parameter.Schema.TryGetProperty("format", out var f) ? f.GetString() : null;
            var values = new List<(string Value, bool MustRefuse)>();
            switch (type)
            {
                case "integer":
                    values.AddRange([("abc", true), ("1.5", true), ("99999999999999999999", true), ("-1", false), ("0", false), ("2147483647", false)]);
                    break;
                case "boolean":
                    values.AddRange([("maybe", true), ("2", true)]);
                    break;
                default:
                    values.Add((new string('x', 10_000), false));
                    values.Add((string.Empty, false));
                    values.Add(("a\0b", true));
                    if (format == "date-time")
                    {
                        // The calendar's ends are valid dates: a default computed from one (a day before it) must not overflow.
                        values.AddRange([("not-a-date", true), ("2026-13-45T99:99:99Z", true), ("0001-01-01T00:00:00Z", false), ("9999-12-31T23:59:59Z", false)]);
                    }
                    else if (parameter.Name == "cursor")
                    {
                        values.AddRange([("garbage!!", true), ("eyJ4IjoxfQ", true), (Convert.ToBase64String(Encoding.UTF8.GetBytes("not|a|cursor")), true), ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true)]);
                    }
                    else if (seed.OwnsIdsNamed(parameter.Name))
                    {
                        values.AddRange([("not-an-id", true), ("' OR 1=1 --", true)]);
                    }
                    else
                    {
                        values.Add(("no_such_value", false));
                    }

                    break;
            }

            foreach (var (value, mustRefuse) in values)
            {
                var label = $"{parameter.Name}={(value.Length > 30 ? value[..30] + "..." : value)}";
                yield return new("query value", label, () => Answers.Request(operation.Method, $"{path}?{parameter.Name}={Uri.EscapeDataString(value)}", Valid()), mustRefuse);
            }
        }

        if (operation.Body is not { } body)
        {
            yield break;
        }

        var (bodySchema, bodyType, bodyNullable) = api.Describe(body);
        var raw = new (string Label, string Text)[]
        {
            ("truncated", """{"name": """),
            ("single quotes", "{'name': 'x'}"),
            ("not json", "not json at all"),
            ("trailing comma", """{"a": 1,}"""),
            ("comment", "/* hi */ {}"),
            ("two documents", "{} {}"),
            ("lone surrogate", "{\"name\": \"\\ud800\"}"),
        };
        foreach (var (label, text) in raw)
        {
            yield return new("malformed JSON", label, () => Answers.Request(operation.Method, path, Answers.JsonText(text)), true);
        }

        // An absent body is how a nullable one is left out.
        yield return new("malformed JSON", "empty body", () => Answers.Request(operation.Method, path, Answers.JsonText(string.Empty)), !bodyNullable);
        yield return new("malformed JSON", "invalid UTF-8", () => Answers.Request(operation.Method, path, Bytes([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D])), true);
        yield return new("content type", "text/plain", () => Answers.Request(operation.Method, path, new StringContent(sample!.ToJsonString(), Encoding.UTF8, "text/plain")), true);
        yield return new("content type", "none", () => Answers.Request(operation.Method, path, new ByteArrayContent(Encoding.UTF8.GetBytes(sample!.ToJsonString()))), true);
        yield return new("content type", "form", () => Answers.Request(operation.Method, path, new FormUrlEncodedContent([new("name", "x")])), true);

        var tops = new List<(string, bool)> { ("\"text\"", true), ("42", true), ("true", true) };
        tops.Add(bodyType == "array" ? ("{}", true) : ("[]", true));
        if (!bodyNullable)
        {
            tops.Add(("null", true));
        }

        if (bodyType == "object" && ApiSurface.Required(bodySchema).Count > 0)
        {
            tops.Add(("{}", true));
        }

        foreach (var (text, mustRefuse) in tops)
        {
            yield return new("wrong type", "body " + text, () => Answers.Request(operation.Method, path, Answers.JsonText(text)), mustRefuse);
        }

        yield return new("deep nesting", "1,000 arrays", () => Answers.Request(operation.Method, path, Answers.JsonText(Nested(1000))), true);
        yield return new("deep nesting", "1,000 objects", () => Answers.Request(operation.Method, path, Answers.JsonText(string.Concat(Enumerable.Repeat("{\"a\":", 1000)) + "1" + new string('}', 1000))), true);
        // 2 MB in the body's first text field, so nothing refuses it before the size limit does.
        var big = BigBody(api, bodySchema, bodyType, seed);
        yield return new("2 MB body", "with Content-Length", () => Answers.Request(operation.Method, path, Answers.JsonText(big)), true);
        yield return new("2 MB body", "chunked", () => Answers.Request(operation.Method, path, Chunked(big)), true);

        // Field by field, on a body that is otherwise plausible (an array body: on its first item).
        var isArray = bodyType == "array";
        var itemSchema = isArray ? api.Describe(bodySchema.GetProperty("items")).Schema : bodySchema;
        var baseItem = api.Sample(itemSchema, "item", seed) as JsonObject ?? [];
        foreach (var (pointer, fieldSchema, required) in Fields(api, itemSchema, []))
        {
            var (resolved, type, nullable) = api.Describe(fieldSchema);
            var name = string.Join('/', pointer);
            FuzzCase With(string family, string label, JsonNode? value, bool mustRefuse, bool remove = false) =>
                new(family, $"/{name} {label}", () =>
                {
                    var item = (JsonObject)baseItem.DeepClone();
                    var parent = item;
                    foreach (var segment in pointer[..^1])
                    {
                        if (parent[segment] is not JsonObject next)
                        {
                            parent[segment] = next = new JsonObject();
                        }

                        parent = next;
                    }

                    if (remove)
                    {
                        parent.Remove(pointer[^1]);
                    }
                    else
                    {
                        parent[pointer[^1]] = value;
                    }

                    JsonNode document = isArray ? new JsonArray(item) : item;
                    // The writer refuses 1,000 levels itself, so the nesting goes in as text.
                    var text = document.ToJsonString().Replace($"\"{DeepMarker}\"", Nested(1000), StringComparison.Ordinal)
                        .Replace(HalfPairMarker, "\\ud800", StringComparison.Ordinal)
                        .Replace($"\"{RepeatedNameMarker}\":1", "\"email\":\"a@example.com\",\"EMAIL\":\"b@example.com\"", StringComparison.Ordinal);
                    return Answers.Request(operation.Method, path, Answers.JsonText(text));
                }, mustRefuse);

            JsonNode wrong = type switch
            {
                "string" => 12345,
                "integer" or "number" => "twelve",
                "boolean" => "yes",
                "array" => "not-a-list",
                "object" => "not-an-object",
                _ => JsonValue.Create(12345),
            };
            if (type is not null)
            {
                yield return With("wrong type", wrong.ToJsonString(), wrong, true);
            }

            if (type == "integer")
            {
                yield return With("wrong type", "1.5", 1.5, true);
                yield return With("wrong type", "2^40", 1L << 40, true);
                yield return With("out of range", "-1", -1, false);
            }

            if (type is "integer" or "string")
            {
                // Past 64 bits: Json.NET holds it as a BigInteger, which the schema validator could not convert (a 500).
                yield return With("out of range", "2^63", JsonValue.Create(9_223_372_036_854_775_808m), true);
            }

            // A null where a list or a map holds strings: the binder lets it through to the code that reads them.
            if (type == "array" && resolved.TryGetProperty("items", out var items) && api.Describe(items) is { Type: not null, Nullable: false })
            {
                yield return With("null inside", "[null]", new JsonArray((JsonNode?)null), true);
            }

            if (type == "object" && resolved.TryGetProperty("additionalProperties", out var mapValues) && mapValues.ValueKind == System.Text.Json.JsonValueKind.Object
                && api.Describe(mapValues) is { Type: not null, Nullable: false })
            {
                yield return With("null inside", "{\"a\": null}", new JsonObject { ["a"] = null }, true);
            }

            if (!nullable && type is not null)
            {
                yield return With("null", "null", null, true);
            }

            if (required)
            {
                yield return With("missing required", "absent", null, true, remove: true);
            }

            if (ApiSurface.Enum(resolved).Count > 0)
            {
                yield return With("unknown enum", "no_such_value", "no_such_value", true);
                var first = ApiSurface.Enum(resolved)[0];
                var otherCase = first.Any(char.IsLower) ? first.ToUpperInvariant() : first.ToLowerInvariant();
                // System.Text.Json matches enum names ignoring case: a known value in other case is not unknown.
                yield return With("unknown enum", "other case", otherCase, false);
            }
            else if (type == "string")
            {
                yield return With("huge string", "100,000 chars", new string('x', 100_000), false);
                yield return With("huge string", "control chars", "a\u0007b\r\nc\u001f", false);
                // PostgreSQL text cannot hold U+0000: it was a 500 there before the API refused it.
                yield return With("NUL char", "U+0000", "a\u0000b", true);
            }

            // A free-form object (a contact, an event): its values are read later, by a column or a
            // template. May be refused or kept, never a 500 (PostgreSQL refuses NUL in a column;
            // half a surrogate pair cannot be read back as a string).
            if (type == "object" && !resolved.TryGetProperty("properties", out _) && !resolved.TryGetProperty("additionalProperties", out _))
            {
                yield return With("free-form text", "NUL in a value", new JsonObject { ["email"] = "a\u0000b@example.com", ["id"] = "c\u00001" }, false);
                yield return With("free-form text", "NUL in a name", new JsonObject { ["e\u0000mail"] = "x" }, false);
                yield return With("free-form text", "half a pair in a value", new JsonObject { ["email"] = HalfPairMarker, ["firstName"] = HalfPairMarker }, false);
                yield return With("free-form text", "half a pair in a name", new JsonObject { [HalfPairMarker] = "x" }, false);
                yield return With("free-form text", "a name twice, in other case", new JsonObject { ["id"] = "c-1", [RepeatedNameMarker] = 1 }, false);
            }

            if (pointer.Length == 1)
            {
                yield return With("deep nesting", "1,000 levels", DeepMarker, true);
                yield return new("unknown field", $"/{name}Zz", () => Answers.Request(operation.Method, path, Answers.JsonText(Unknown(baseItem, name + "Zz", isArray))), true);
            }
        }
    }

    /// <summary>Every field of an object schema, and one level into fields that are objects themselves.</summary>
    private static IEnumerable<(string[] Pointer, System.Text.Json.JsonElement Schema, bool Required)> Fields(ApiSurface api, System.Text.Json.JsonElement schema, string[] prefix)
    {
        var required = ApiSurface.Required(schema);
        foreach (var (name, field) in ApiSurface.Properties(schema))
        {
            string[] pointer = [.. prefix, name];
            yield return (pointer, field, required.Contains(name));
            var (inner, type, _) = api.Describe(field);
            if (type == "object" && prefix.Length == 0)
            {
                foreach (var nested in Fields(api, inner, pointer))
                {
                    yield return nested;
                }
            }
        }
    }

    private static string BigBody(ApiSurface api, System.Text.Json.JsonElement schema, string? type, SeededAccount seed)
    {
        var itemSchema = type == "array" ? api.Describe(schema.GetProperty("items")).Schema : schema;
        var item = api.Sample(itemSchema, "item", seed) as JsonObject ?? [];
        var field = ApiSurface.Properties(itemSchema)
            .Where(p => api.Describe(p.Schema) is { Type: "string" } d && ApiSurface.Enum(d.Schema).Count == 0)
            .Select(p => p.Name)
            .FirstOrDefault() ?? "zz";
        item[field] = new string('x', 2 * 1024 * 1024);
        return type == "array" ? new JsonArray(item).ToJsonString() : item.ToJsonString();
    }

    private static string Unknown(JsonObject baseItem, string name, bool isArray)
    {
        var item = (JsonObject)baseItem.DeepClone();
        item[name] = 1;
        return isArray ? new JsonArray(item).ToJsonString() : item.ToJsonString();
    }

    private const string DeepMarker = "deep-nesting-goes-here";

    /// <summary>Replaced by the escape of a lone high surrogate in the request's text (a JsonNode cannot write one).</summary>
    private const string HalfPairMarker = "half-pair-goes-here";

    /// <summary>Replaced by two names that differ only in case (a JsonObject cannot hold both).</summary>
    private const string RepeatedNameMarker = "repeated-name-goes-here";

    private static string Nested(int depth) => new string('[', depth) + new string(']', depth);

    private static ByteArrayContent Bytes(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>A body without Content-Length, so only the limit enforced while reading can stop it.</summary>
    private static StreamContent Chunked(string text)
    {
        var content = new StreamContent(new UnseekableStream(Encoding.UTF8.GetBytes(text)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

[Collection(SqliteCollection.Name)]
public sealed class OpenApiFuzzTests_Sqlite(SqliteApi fixture, ITestOutputHelper output) : OpenApiFuzzTests<SqliteApi>(fixture, output);

[Collection(PostgresCollection.Name)]
public sealed class OpenApiFuzzTests_Postgres(PostgresApi fixture, ITestOutputHelper output) : OpenApiFuzzTests<PostgresApi>(fixture, output);
