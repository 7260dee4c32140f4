using System.Net;
using WebhooksApi.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Every operation of the served OpenAPI document, called by someone who should not reach the
/// first account's resources: a second account's admin key (404, never data, nothing changed),
/// a key of the account lacking the operation's scope (403), and no key or a wrong one (401).
/// </summary>
public abstract class TenancyMatrixTests<TFixture>(TFixture fixture, ITestOutputHelper output) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    private static readonly string[] NonAdminScopes = ["connections:manage", "events:send", "logs:read"];

    [SkippableFact]
    public async Task A_second_account_a_missing_scope_and_no_key_never_reach_the_first_accounts_resources()
    {
        SkipIfUnavailable();
        var owner = await SeededAccount.CreateAsync(Fixture, withActivity: true);
        var intruder = await Fixture.CreateAccountAsync("intruder");
        using var other = intruder.Admin();
        using var anonymous = Fixture.Client();
        using var forged = Fixture.Client("whk_" + new string('f', 40));
        var api = await ApiSurface.LoadAsync(other);
        var ownerIds = owner.Ids.Where(i => i.Key != "schemas").Select(i => i.Value).Append(owner.Account.Id).ToList();
        var scoped = new Dictionary<string, HttpClient>(StringComparer.Ordinal);
        foreach (var scope in NonAdminScopes)
        {
            scoped[scope] = Fixture.Client(await owner.Account.KeyWithScopesAsync(scope));
        }

        var failures = new List<string>();
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var rows = await AccountRows.SnapshotAsync(Fixture.Factory.Services, owner.Account.Id);
        async Task Check(string family, ApiOperation operation, HttpClient client, string? id, Func<HttpResponseMessage, string, bool> ok, string query = "")
        {
            counts[family] = counts.GetValueOrDefault(family) + 1;
            var body = operation.Body is { } schema ? api.Sample(schema, "body", owner, allIds: true)!.ToJsonString() : null;
            using var request = Answers.Request(operation.Method, operation.PathWith(id) + query, body is null ? null : Answers.JsonText(body));
            using var response = await client.SendAsync(request);
            // A problem may echo the ids the caller sent ("No connection with id ..."): that tells nothing.
            var sent = operation.PathWith(id) + query + body;
            var text = Answers.IsProblem(response)
                ? ownerIds.Where(i => sent.Contains(i, StringComparison.Ordinal)).Aggregate(await response.Content.ReadAsStringAsync(), (t, i) => t.Replace(i, "<sent id>", StringComparison.OrdinalIgnoreCase))
                : await response.Content.ReadAsStringAsync();
            if (!ok(response, text))
            {
                failures.Add($"{operation} [{family}{query}] -> {(int)response.StatusCode}: {Answers.Truncate(text)}");
            }

            var after = await AccountRows.SnapshotAsync(Fixture.Factory.Services, owner.Account.Id);
            if (AccountRows.Diff(rows, after) is { Length: > 0 } diff)
            {
                failures.Add($"{operation} [{family}] changed the first account's rows: {diff}");
                rows = after;
            }
        }

        bool NoOwnerData(string text) => !ownerIds.Any(i => text.Contains(i, StringComparison.OrdinalIgnoreCase));
        bool Status(HttpResponseMessage r, string text, params HttpStatusCode[] allowed) => allowed.Contains(r.StatusCode) && Answers.IsProblem(r) && NoOwnerData(text);

        foreach (var operation in api.Operations.Where(o => o.Authenticated))
        {
            var operatorOnly = operation.Scopes.Count == 0;
            var id = operation.PathParameter is null ? null : owner.IdFor(operation);

            await Check("no key", operation, anonymous, id, (r, t) => Status(r, t, operatorOnly ? [HttpStatusCode.Unauthorized, HttpStatusCode.NotFound] : [HttpStatusCode.Unauthorized]));
            await Check("unknown key", operation, forged, id, (r, t) => Status(r, t, operatorOnly ? [HttpStatusCode.Forbidden, HttpStatusCode.NotFound] : [HttpStatusCode.Unauthorized]));
            if (operatorOnly)
            {
                await Check("other account", operation, other, id, (r, t) => Status(r, t, HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.NotFound));
                continue;
            }

            if (NonAdminScopes.FirstOrDefault(s => !operation.Scopes.Contains(s)) is { } lacking)
            {
                await Check("missing scope", operation, scoped[lacking], id, (r, t) => Status(r, t, HttpStatusCode.Forbidden));
            }

            if (id is not null)
            {
                // The owner's id in the path, and in the body where one names another resource.
                await Check("other account", operation, other, id, (r, t) => Status(r, t, HttpStatusCode.NotFound));
            }
            else if (operation.Body is not null)
            {
                // Creating things that point at the owner's resources: refused, never bound to them.
                await Check("other account", operation, other, id, (r, t) => (int)r.StatusCode >= 400 && (int)r.StatusCode < 500 ? Status(r, t, r.StatusCode) : !ReferencesOwner(operation, api, owner) && NoOwnerData(t));
            }
            else
            {
                // Lists (and the account's singletons): nothing of the owner's, also when filtered by the owner's ids.
                await Check("other account list", operation, other, id, (r, t) => (r.StatusCode == HttpStatusCode.OK || Answers.Is4xx(r)) && NoOwnerData(t));
                if (operation.QueryParameters.Any(p => p.Name == "from") && operation.QueryParameters.Any(p => p.Name == "to"))
                {
                    await Check("other account list", operation, other, id, (r, t) => r.StatusCode == HttpStatusCode.OK && NoOwnerData(t), "?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z");
                }

                foreach (var filter in operation.QueryParameters.Where(p => owner.OwnsIdsNamed(p.Name)))
                {
                    var ownerId = owner.IdNamed(filter.Name);
                    await Check("other account list", operation, other, id, (r, t) => (r.StatusCode == HttpStatusCode.OK || Answers.Is4xx(r)) && NoOwnerData(t), $"?{filter.Name}={ownerId}");
                }
            }
        }

        foreach (var client in scoped.Values)
        {
            client.Dispose();
        }

        output.WriteLine($"{Fixture.Provider}: {api.Operations.Count(o => o.Authenticated)} authenticated operations, {counts.Values.Sum()} requests: {string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"))}");
        Assert.True(failures.Count == 0, $"{failures.Count} leaks:\n{string.Join('\n', failures)}");
    }

    /// <summary>True when the sample body for this operation names one of the owner's resources.</summary>
    private static bool ReferencesOwner(ApiOperation operation, ApiSurface api, SeededAccount owner)
    {
        var text = api.Sample(operation.Body!.Value, "body", owner, allIds: true)!.ToJsonString();
        return owner.Ids.Values.Any(i => text.Contains(i, StringComparison.Ordinal));
    }
}

[Collection(SqliteCollection.Name)]
public sealed class TenancyMatrixTests_Sqlite(SqliteApi fixture, ITestOutputHelper output) : TenancyMatrixTests<SqliteApi>(fixture, output);

[Collection(PostgresCollection.Name)]
public sealed class TenancyMatrixTests_Postgres(PostgresApi fixture, ITestOutputHelper output) : TenancyMatrixTests<PostgresApi>(fixture, output);
