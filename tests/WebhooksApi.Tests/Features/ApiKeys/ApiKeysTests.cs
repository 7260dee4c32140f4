using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.ApiKeys;

public abstract class ApiKeysTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task A_new_key_is_shown_once_and_stored_only_as_a_hash()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var created = await (await admin.PostJsonAsync("/v1/api-keys", new { name = "ci", scopes = new[] { "events:send", "logs:read" } })).ReadJsonAsync(HttpStatusCode.Created);
        var key = created.GetProperty("key").GetString()!;
        Assert.True(key.Length >= 4 + 43, "at least 32 random bytes");

        var list = await (await admin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        Assert.DoesNotContain(key, list.GetRawText(), StringComparison.Ordinal);
        var listed = list.GetProperty("items").EnumerateArray().Single(k => k.GetProperty("id").GetString() == created.GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Undefined, listed.TryGetProperty("key", out var k) ? k.ValueKind : JsonValueKind.Undefined);

        await using var scope = Fixture.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
        var row = await db.ApiKeys.SingleAsync(r => r.Id == Guid.Parse(created.GetProperty("id").GetString()!));
        Assert.NotEqual(key, row.KeyHash);
        Assert.DoesNotContain(key, row.KeyHash + row.Prefix + row.Name, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task No_key_or_an_unknown_key_is_401()
    {
        SkipIfUnavailable();
        using var anonymous = Fixture.Client();
        var noKey = await anonymous.GetAsync(new Uri("/v1/api-keys", UriKind.Relative));
        await noKey.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("Bearer", noKey.Headers.WwwAuthenticate.Single().Scheme);

        using var bad = Fixture.Client("whk_not-a-real-key");
        await (await bad.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [SkippableFact]
    public async Task A_key_without_the_admin_scope_cannot_manage_keys()
    {
        var account = await NewAccountAsync();
        using var reader = Fixture.Client(await account.KeyWithScopesAsync("logs:read", "connections:manage", "events:send"));
        await (await reader.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await reader.PostJsonAsync("/v1/api-keys", new { name = "x", scopes = new[] { "admin" } })).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task A_revoked_key_stops_working_at_once()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var created = await (await admin.PostJsonAsync("/v1/api-keys", new { name = "temp", scopes = new[] { "admin" } })).ReadJsonAsync(HttpStatusCode.Created);
        using var temp = Fixture.Client(created.GetProperty("key").GetString());
        (await temp.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).EnsureSuccessStatusCode();

        var revoke = await admin.DeleteAsync(new Uri($"/v1/api-keys/{created.GetProperty("id").GetString()}", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);

        await (await temp.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var listed = await (await admin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        var row = listed.GetProperty("items").EnumerateArray().Single(k => k.GetProperty("id").GetString() == created.GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.String, row.GetProperty("revokedAt").ValueKind);
    }

    [SkippableFact]
    public async Task Another_accounts_keys_are_invisible_and_not_found()
    {
        var mine = await NewAccountAsync();
        var theirs = await NewAccountAsync();
        using var theirAdmin = theirs.Admin();
        var theirKey = await (await theirAdmin.PostJsonAsync("/v1/api-keys", new { name = "theirs", scopes = new[] { "logs:read" } })).ReadJsonAsync(HttpStatusCode.Created);
        var theirKeyId = theirKey.GetProperty("id").GetString();

        using var myAdmin = mine.Admin();
        var list = await (await myAdmin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).ReadJsonAsync();
        Assert.DoesNotContain(list.GetProperty("items").EnumerateArray(), k => k.GetProperty("id").GetString() == theirKeyId);
        await (await myAdmin.DeleteAsync(new Uri($"/v1/api-keys/{theirKeyId}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        await (await myAdmin.DeleteAsync(new Uri("/v1/api-keys/not-an-id", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound);

        using var their = Fixture.Client(theirKey.GetProperty("key").GetString());
        await (await their.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [SkippableFact]
    public async Task Keys_page_newest_first_and_pages_stay_stable_while_keys_are_added()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        for (var i = 0; i < 6; i++)
        {
            (await admin.PostJsonAsync("/v1/api-keys", new { name = $"k{i}", scopes = new[] { "logs:read" } })).EnsureSuccessStatusCode();
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = "/v1/api-keys?limit=3" + (cursor is null ? string.Empty : $"&cursor={cursor}");
            var page = await (await admin.GetAsync(new Uri(url, UriKind.Relative))).ReadJsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(k => k.GetProperty("name").GetString()!));
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("nextCursor").GetString();
            if (pages++ == 0)
            {
                // A key added after the first page is newer than the cursor: it never shifts later pages.
                (await admin.PostJsonAsync("/v1/api-keys", new { name = "late", scopes = new[] { "logs:read" } })).EnsureSuccessStatusCode();
            }
        }
        while (cursor is not null);

        Assert.Equal(["k5", "k4", "k3", "k2", "k1", "k0", "admin"], seen);
        Assert.Equal(3, pages);
    }

    [SkippableFact]
    public async Task Bad_paging_parameters_are_400()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var limit = await (await admin.GetAsync(new Uri("/v1/api-keys?limit=501", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(limit.GetProperty("errors").TryGetProperty("limit", out _));
        await (await admin.GetAsync(new Uri("/v1/api-keys?limit=abc", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest);
        var cursor = await (await admin.GetAsync(new Uri("/v1/api-keys?cursor=garbage!", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(cursor.GetProperty("errors").TryGetProperty("cursor", out _));
    }

    [SkippableFact]
    public async Task Key_requests_are_validated_with_field_errors()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var noScopes = await (await admin.PostJsonAsync("/v1/api-keys", new { name = "x", scopes = Array.Empty<string>() })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(noScopes.GetProperty("errors").TryGetProperty("scopes", out _));

        var unknown = await (await admin.PostJsonAsync("/v1/api-keys", new { name = "x", scopes = new[] { "root" } })).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(unknown.GetProperty("errors").TryGetProperty("/scopes/0", out _));
    }
}

[Collection(SqliteCollection.Name)]
public sealed class ApiKeysTests_Sqlite(SqliteApi fixture) : ApiKeysTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class ApiKeysTests_Postgres(PostgresApi fixture) : ApiKeysTests<PostgresApi>(fixture);
