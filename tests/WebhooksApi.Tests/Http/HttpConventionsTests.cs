using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Http;

[Collection(SqliteCollection.Name)]
public sealed class HttpConventionsTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Malformed_json_is_a_400_that_gives_line_and_position()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var problem = await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json("{\n  \"name\": \"x\",\n  \"scopes\": [\"admin\",]\n}")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "malformed-request");
        Assert.Contains("line 3", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_types_unknown_fields_and_nulls_are_400s_keyed_by_json_pointer()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();

        var wrongType = await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json("""{"name": 42, "scopes": ["admin"]}""")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(wrongType.GetProperty("errors").TryGetProperty("/name", out _), wrongType.GetRawText());

        var unknown = await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json("""{"name": "x", "scopes": ["admin"], "titel": 1}""")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(unknown.GetProperty("errors").TryGetProperty("/titel", out _), unknown.GetRawText());

        var nulled = await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json("""{"name": null, "scopes": ["admin"]}""")))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(nulled.GetProperty("errors").TryGetProperty("/name", out _), nulled.GetRawText());

        var notObject = await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json("[1,2]"))).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.DoesNotContain("WebhooksApi", notObject.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var huge = "{\"name\": \"" + new string('a', 1024 * 1024 + 10) + "\", \"scopes\": [\"admin\"]}";
        await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), Json(huge))).AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload-too-large");
    }

    [Fact]
    public async Task A_wrong_content_type_is_415_and_an_unknown_route_is_a_404_problem()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        await (await admin.PostAsync(new Uri("/v1/api-keys", UriKind.Relative), new StringContent("name=x", Encoding.UTF8, "text/plain")))
            .AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
        await (await admin.GetAsync(new Uri("/v1/nothing-here", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_unexpected_exception_is_a_500_problem_with_a_trace_id_and_no_internals()
    {
        var account = await NewAccountAsync();
        await using var broken = Fixture.CreateFactory(b => b.ConfigureServices(s => s.Replace(ServiceDescriptor.Singleton<IDataProtectionProvider>(new ExplodingProtection()))));
        using var client = broken.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.AdminKey);
        var problem = await (await client.PostJsonAsync("/v1/auth-connectors", new { name = "x", type = "bearer", bearer = new { token = "t" } })).AssertProblemAsync(HttpStatusCode.InternalServerError, "internal");
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        Assert.DoesNotContain("key ring exploded", problem.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repeated_post_with_the_same_idempotency_key_returns_the_first_response()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        async Task<HttpResponseMessage> Post(string name, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/api-keys") { Content = Json($$"""{"name": "{{name}}", "scopes": ["logs:read"]}""") };
            request.Headers.Add("Idempotency-Key", key);
            return await admin.SendAsync(request);
        }

        var first = await Post("once", "key-1");
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var again = await Post("once", "key-1");
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal(firstBody, await again.Content.ReadAsStringAsync());
        Assert.Equal(first.Headers.Location, again.Headers.Location);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));

        await (await Post("other", "key-1")).AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");

        var list = await (await admin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        Assert.Single(list.GetProperty("items").EnumerateArray(), k => k.GetProperty("name").GetString() == "once");

        // Keys are per account: another tenant's "key-1" is a new request.
        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/api-keys") { Content = Json("""{"name": "once", "scopes": ["logs:read"]}""") };
        request.Headers.Add("Idempotency-Key", "key-1");
        var theirs = await (await otherAdmin.SendAsync(request)).ReadJsonAsync(HttpStatusCode.Created);
        Assert.NotEqual(firstBody, theirs.GetRawText());
    }

    [Fact]
    public async Task Health_endpoints_answer_without_a_key()
    {
        SkipIfUnavailable();
        using var client = Fixture.Client();
        Assert.Equal("ok", (await (await client.GetAsync(new Uri("/healthz", UriKind.Relative))).ReadJsonAsync()).GetProperty("status").GetString());
        Assert.Equal("ready", (await (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).ReadJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Configured_browser_origins_get_cors_headers()
    {
        SkipIfUnavailable();
        await using var factory = Fixture.CreateFactory(b => b.UseSetting("Cors:AllowedOrigins", "https://app.example.com"));
        using var client = factory.CreateClient();
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/api-keys");
        preflight.Headers.Add("Origin", "https://app.example.com");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        var allowed = await client.SendAsync(preflight);
        Assert.Equal("https://app.example.com", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var foreign = new HttpRequestMessage(HttpMethod.Options, "/v1/api-keys");
        foreign.Headers.Add("Origin", "https://evil.example.com");
        foreign.Headers.Add("Access-Control-Request-Method", "POST");
        Assert.False((await client.SendAsync(foreign)).Headers.Contains("Access-Control-Allow-Origin"));
    }

    private sealed class ExplodingProtection : IDataProtector
    {
        public IDataProtector CreateProtector(string purpose) => this;

        public byte[] Protect(byte[] plaintext) => throw new InvalidOperationException("key ring exploded");

        public byte[] Unprotect(byte[] protectedData) => throw new InvalidOperationException("key ring exploded");
    }
}
