using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Reliability;

public sealed record ApiParameter(string Name, string In, JsonElement Schema);

/// <summary>One operation of the served OpenAPI document, as the reliability tests drive it.</summary>
public sealed record ApiOperation(string Method, string Path, string OperationId, IReadOnlyList<ApiParameter> Parameters, JsonElement? Body, IReadOnlyList<string> Scopes, bool Authenticated)
{
    public ApiParameter? PathParameter => Parameters.FirstOrDefault(p => p.In == "path");

    public IEnumerable<ApiParameter> QueryParameters => Parameters.Where(p => p.In == "query");

    /// <summary>The collection a path parameter belongs to: "/v1/connections/{id}/test" -> "connections".</summary>
    public string? Resource => PathParameter is null ? null : Path[..Path.IndexOf('{', StringComparison.Ordinal)].TrimEnd('/').Split('/')[^1];

    public string PathWith(string? id) => PathParameter is { } p ? Path.Replace("{" + p.Name + "}", Uri.EscapeDataString(id ?? string.Empty), StringComparison.Ordinal) : Path;

    public override string ToString() => $"{Method} {Path}";
}

/// <summary>Reads the served OpenAPI document, so a new operation is fuzzed and matrix-tested without touching the tests.</summary>
public sealed partial class ApiSurface(JsonElement document, IReadOnlyList<ApiOperation> operations)
{
    public JsonElement Document { get; } = document;

    public IReadOnlyList<ApiOperation> Operations { get; } = operations;

    public static async Task<ApiSurface> LoadAsync(HttpClient client)
    {
        var document = await client.GetJsonAsync("/openapi/v1.json");
        var operations = new List<ApiOperation>();
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject())
            {
                var parameters = op.Value.TryGetProperty("parameters", out var ps)
                    ? ps.EnumerateArray().Select(p => new ApiParameter(p.GetProperty("name").GetString()!, p.GetProperty("in").GetString()!, p.TryGetProperty("schema", out var s) ? s : default)).ToList()
                    : [];
                JsonElement? body = op.Value.TryGetProperty("requestBody", out var rb) && rb.GetProperty("content").TryGetProperty("application/json", out var json)
                    ? json.GetProperty("schema")
                    : null;
                var description = op.Value.TryGetProperty("description", out var d) ? d.GetString() ?? string.Empty : string.Empty;
                var scopes = ScopeLine().Match(description) is { Success: true } m ? Quoted().Matches(m.Value).Select(q => q.Groups[1].Value).ToList() : [];
                var authenticated = op.Value.TryGetProperty("security", out _);
                operations.Add(new ApiOperation(op.Name.ToUpperInvariant(), path.Name, op.Value.GetProperty("operationId").GetString()!, parameters, body, scopes, authenticated));
            }
        }

        return new ApiSurface(document, operations);
    }

    [GeneratedRegex(@"Scope: any of (`[^`]+`(, )?)+")]
    private static partial Regex ScopeLine();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Quoted();

    /// <summary>Follows a $ref into components/schemas.</summary>
    public JsonElement Resolve(JsonElement schema)
    {
        while (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("$ref", out var reference))
        {
            schema = Document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]);
        }

        return schema;
    }

    /// <summary>The schema without its null alternative, and whether null was one.</summary>
    public (JsonElement Schema, string? Type, bool Nullable) Describe(JsonElement schema)
    {
        schema = Resolve(schema);
        var nullable = false;
        if (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("oneOf", out var oneOf))
        {
            var options = oneOf.EnumerateArray().ToList();
            nullable = options.Any(o => o.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "null");
            var other = options.FirstOrDefault(o => !(o.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "null"));
            if (other.ValueKind == JsonValueKind.Object)
            {
                var inner = Describe(other);
                return (inner.Schema, inner.Type, true);
            }
        }

        string? type = null;
        if (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("type", out var typeElement))
        {
            if (typeElement.ValueKind == JsonValueKind.Array)
            {
                var names = typeElement.EnumerateArray().Select(t => t.GetString()).ToList();
                nullable |= names.Contains("null");
                type = names.FirstOrDefault(n => n != "null");
            }
            else
            {
                type = typeElement.GetString();
            }
        }

        return (schema, type, nullable);
    }

    public static IReadOnlyList<string> Enum(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("enum", out var values) ? [.. values.EnumerateArray().Select(v => v.GetString()!)] : [];

    public static IReadOnlyList<string> Required(JsonElement schema) =>
        schema.TryGetProperty("required", out var r) ? [.. r.EnumerateArray().Select(v => v.GetString()!)] : [];

    public static IEnumerable<(string Name, JsonElement Schema)> Properties(JsonElement schema) =>
        schema.TryGetProperty("properties", out var p) ? p.EnumerateObject().Select(x => (x.Name, x.Value)) : [];

    /// <summary>A plausible value for a schema: real ids for *Id fields, the receiver for urls, first enum values.</summary>
    public JsonNode? Sample(JsonElement schema, string name, SeededAccount seed, bool allIds = false)
    {
        var (resolved, type, _) = Describe(schema);
        var values = Enum(resolved);
        if (values.Count > 0)
        {
            return values[0];
        }

        switch (type)
        {
            case "object":
                var obj = new JsonObject();
                var required = Required(resolved);
                // url and title too: a connection without them is refused before any other field is
                // looked at; and the ids of other resources, so that references are exercised.
                foreach (var (prop, propSchema) in Properties(resolved).Where(p => required.Contains(p.Name) || p.Name is "url" or "title"
                    || seed.OwnsIdsNamed(p.Name) || (allIds && p.Name == "fromTemplateId")))
                {
                    obj[prop] = Sample(propSchema, prop, seed, allIds);
                }

                return obj;
            case "array":
                return resolved.TryGetProperty("items", out var items) ? new JsonArray(Sample(items, name, seed, allIds)) : new JsonArray();
            case "integer":
                return 1;
            case "number":
                return 1.5;
            case "boolean":
                return false;
            default:
                return name switch
                {
                    "url" => seed.ReceiverUrl,
                    "connectionId" => seed.Ids["connections"],
                    "authConnectorId" => seed.Ids["auth-connectors"],
                    "workflowWebhookId" => seed.Ids["workflow-webhooks"],
                    "fromTemplateId" => seed.Ids["templates"],
                    "activityDateTime" or "from" or "to" => "2026-11-20T10:00:00Z",
                    "email" => "fuzz@example.com",
                    _ when type is null => "fuzz",
                    _ => "fuzz-" + name,
                };
        }
    }
}

/// <summary>
/// An account holding one of everything the API manages, each id by the collection name its
/// routes use ("connections", "deliveries", ...), and every secret value it was given.
/// </summary>
public sealed partial record SeededAccount(TestAccount Account, string ReceiverUrl, IReadOnlyDictionary<string, string> Ids, IReadOnlyList<string> Secrets)
{
    /// <param name="clientFor">Makes a client sending the given key (null: none); by default one of the fixture's app.</param>
    public static async Task<SeededAccount> CreateAsync(ApiFixture fixture, bool withActivity = false, Func<string?, HttpClient>? clientFor = null)
    {
        clientFor ??= fixture.Client;
        TestAccount account;
        using (var operatorClient = clientFor(ApiFixture.OperatorKey))
        {
            var created = await Created(operatorClient, "/v1/accounts", new { name = "seeded" });
            account = new TestAccount(fixture, created.Id(), created.GetProperty("apiKey").Str("key"));
        }

        using var admin = clientFor(account.AdminKey);
        var tag = Guid.NewGuid().ToString("N")[..10];
        var secrets = new List<string> { account.AdminKey, $"basic-Pa55-{tag}", $"bearer-T0k-{tag}", $"apikey-V4l-{tag}" };
        var ids = new Dictionary<string, string>(StringComparer.Ordinal) { ["schemas"] = "activity-event.schema.json" };
        var url = fixture.Receiver.NewEndpoint();

        ids["auth-connectors"] = (await Created(admin, "/v1/auth-connectors", new { name = "basic", type = "basic", basic = new { username = "svc", password = secrets[1] } })).Id();
        ids["bearer-auth-connector"] = (await Created(admin, "/v1/auth-connectors", new { name = "bearer", type = "bearer", bearer = new { token = secrets[2] } })).Id();
        ids["query-key-auth-connector"] = (await Created(admin, "/v1/auth-connectors", new { name = "key", type = "api_key", apiKey = new { name = "key", value = secrets[3], @in = "query" } })).Id();

        // Test sends that fail carry each credential too: attempts, errors and logs must mask them.
        var refusing = fixture.Receiver.NewEndpoint(ctx => { ctx.Response.StatusCode = 401; return ctx.Response.WriteAsync("denied"); });
        foreach (var connector in new[] { "bearer-auth-connector", "query-key-auth-connector" })
        {
            var failing = await Created(admin, "/v1/connections", Builders.Connection(refusing, connector).With("authConnectorId", ids[connector]));
            ids[connector.Replace("auth-connector", "connection", StringComparison.Ordinal)] = failing.Id();
            secrets.Add(failing.Str("signingSecret"));
            await admin.TestConnectionAsync(failing.Id());
        }

        var connection = await Created(admin, "/v1/connections", Builders.Connection(url).With("authConnectorId", ids["auth-connectors"]));
        ids["connections"] = connection.Id();
        secrets.Add(connection.Str("signingSecret"));
        var test = await admin.TestConnectionAsync(ids["connections"]);
        Assert.True(test.Str("outcome") == "ok", $"test send: {test.GetRawText()}");
        (await admin.ActionAsync(ids["connections"], "activate")).EnsureSuccessStatusCode();
        var rotated = await (await admin.PostAsync(new Uri($"/v1/connections/{ids["connections"]}/rotate-secret", UriKind.Relative), null)).ReadJsonAsync();
        secrets.Add(rotated.Str("signingSecret"));

        ids["templates"] = (await Created(admin, "/v1/templates", new { name = "tpl", connectionId = ids["connections"] })).Id();
        ids["workflow-webhooks"] = (await Created(admin, "/v1/workflow-webhooks", new { name = "step", workflowId = "wf-" + tag, stepId = "s1", connectionId = ids["connections"] })).Id();

        var executed = await (await admin.PostJsonAsync($"/v1/workflow-webhooks/{ids["workflow-webhooks"]}/executions", EngineBuilders.Contact("c-" + tag))).ReadJsonAsync(HttpStatusCode.Accepted);
        ids["deliveries"] = executed.GetProperty("items")[0].Id();
        // Settled before anyone snapshots the account: no dispatcher writes behind a test's back.
        await Eventually.WaitAsync(() => admin.GetJsonAsync($"/v1/deliveries/{ids["deliveries"]}"), d => d.Str("status") == "succeeded", "the seeded delivery to succeed");
        ids["logs"] = (await admin.GetJsonAsync("/v1/logs")).GetProperty("items")[0].Id();

        var key = await Created(admin, "/v1/api-keys", new { name = "spare", scopes = new[] { "logs:read" } });
        ids["api-keys"] = key.Id();
        secrets.Add(key.Str("key"));

        (await admin.PutAsJsonAsync2("/v1/activity-webhook", new { url = fixture.Receiver.NewEndpoint(), authConnectorId = ids["auth-connectors"], enabled = withActivity })).EnsureSuccessStatusCode();
        if (withActivity)
        {
            (await admin.PostJsonAsync("/v1/activities", new { activityStatus = "DELIVERED", activityDateTime = "2026-11-20T10:00:00", email = $"a-{tag}@example.com", iid = "iid-" + tag, mediaType = "email" }))
                .EnsureSuccessStatusCode();
        }

        return new SeededAccount(account, url, ids, secrets);
    }

    /// <summary>"connectionId" names an id of "connections": a value that is not one of ours can never match.</summary>
    public bool OwnsIdsNamed(string parameter) => IdNamed(parameter) is not null;

    public string? IdNamed(string parameter) =>
        parameter.EndsWith("Id", StringComparison.Ordinal) && Ids.TryGetValue(KebabCase().Replace(parameter[..^2], "-$1").ToLowerInvariant() + "s", out var id) ? id : null;

    [GeneratedRegex("(?<!^)([A-Z])")]
    private static partial Regex KebabCase();

    private static async Task<JsonElement> Created(HttpClient admin, string path, object body) =>
        await (await admin.PostJsonAsync(path, body)).ReadJsonAsync(HttpStatusCode.Created);

    /// <summary>The id for an operation's path parameter; an operation on a new collection fails here until the seed creates one.</summary>
    public string IdFor(ApiOperation operation) =>
        Ids.TryGetValue(operation.Resource!, out var id) ? id : throw new InvalidOperationException($"{operation}: SeededAccount creates no '{operation.Resource}'; add one so the operation is covered.");
}

/// <summary>Every row the account owns, per table, as a count and a content hash: a refused request must leave it identical.</summary>
public static class AccountRows
{
    private static readonly JsonSerializerOptions Json = new() { ReferenceHandler = ReferenceHandler.IgnoreCycles };

    public static async Task<IReadOnlyDictionary<string, string>> SnapshotAsync(IServiceProvider services, string accountId)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
        var id = Guid.Parse(accountId);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entity in db.Model.GetEntityTypes().Where(e => !e.IsOwned()))
        {
            var key = entity.FindProperty("AccountId") is { } p && p.ClrType == typeof(Guid) ? "AccountId"
                : entity.ClrType == typeof(Account) ? "Id"
                : null;
            if (key is null)
            {
                continue;
            }

            var method = typeof(AccountRows).GetMethod(nameof(RowsAsync), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.MakeGenericMethod(entity.ClrType);
            result[entity.ClrType.Name] = await (Task<string>)method.Invoke(null, [db, key, id])!;
        }

        return result;
    }

    private static async Task<string> RowsAsync<T>(WebhooksDbContext db, string key, Guid id)
        where T : class
    {
        var rows = await db.Set<T>().AsNoTracking().Where(e => EF.Property<Guid>(e, key) == id).ToListAsync();
        var text = string.Join('\n', rows.Select(r => JsonSerializer.Serialize(r, Json)).Order(StringComparer.Ordinal));
        return $"{rows.Count} rows, {Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16]}";
    }

    public static string Diff(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        string.Join("; ", before.Where(b => after.GetValueOrDefault(b.Key) != b.Value).Select(b => $"{b.Key}: {b.Value} -> {after.GetValueOrDefault(b.Key)}"));
}

/// <summary>What every answer to bad input must be: a 4xx problem document.</summary>
public static class Answers
{
    public static async Task<string> DescribeAsync(HttpResponseMessage response) =>
        $"{(int)response.StatusCode} {response.Content.Headers.ContentType?.MediaType}: {Truncate(await response.Content.ReadAsStringAsync())}";

    public static string Truncate(string text) => text.Length > 400 ? text[..400] + "..." : text;

    public static bool IsProblem(HttpResponseMessage response) =>
        response.Content.Headers.ContentType?.MediaType == "application/problem+json";

    public static bool Is4xx(HttpResponseMessage response) => (int)response.StatusCode is >= 400 and < 500;

    public static StringContent JsonText(string text) => new(text, Encoding.UTF8, "application/json");

    public static HttpRequestMessage Request(string method, string path, HttpContent? content = null) =>
        new(new HttpMethod(method), new Uri(path, UriKind.Relative)) { Content = content };
}
