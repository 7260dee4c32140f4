using System.Net;
using System.Text.Json;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Deliveries;

public abstract class DeliveriesListTests<TFixture>(TFixture fixture) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    /// <summary>
    /// T0:      step A1: c-1 (Ana@Example.com) succeeds, s500 fails once (pending, retry in an hour)
    /// T0+10m:  step A2 (same connection): c-2 (+15550002) succeeds; step B1 (disabled connection): c-1 skipped.
    /// </summary>
    private sealed record Scenario(HttpClient Admin, string A, string A1, string A2, string B, DateTimeOffset T0);

    private async Task<Scenario> ScenarioAsync()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(LogBuilders.StatusByContact);
        var a1 = await account.ActiveStepAsync(url, Builders.Connection(url).With("retryPolicy", new { kind = "exponential", initialDelaySeconds = 3600 }));
        var a2 = await a1.AddStepAsync();
        var b1 = await account.ActiveStepAsync(Fixture.Receiver.NewEndpoint());
        (await b1.Admin.ActionAsync(b1.ConnectionId, "disable")).EnsureSuccessStatusCode();
        var t0 = Fixture.Time.GetUtcNow();
        await a1.ExecuteAndSettleAsync(new { id = "c-1", email = "Ana@Example.com" }, new { id = "s500" });
        Fixture.Time.Advance(TimeSpan.FromMinutes(10));
        await a2.ExecuteAndSettleAsync(new { id = "c-2", phone = "+15550002" });
        await b1.ExecuteAndSettleAsync(new { id = "c-1", email = "Ana@Example.com" });
        return new Scenario(a1.Admin, a1.ConnectionId, a1.StepId, a2.StepId, b1.ConnectionId, t0);
    }

    private static async Task<List<string>> ContactsAsync(Scenario s, string query) =>
        (await s.Admin.AllPagesAsync("/v1/deliveries?" + query)).Select(d => d.Str("contactId")).Order(StringComparer.Ordinal).ToList();

    [SkippableFact]
    public async Task Each_filter_and_their_combinations_select_exactly_their_deliveries()
    {
        var s = await ScenarioAsync();
        var t1 = LogBuilders.Q(s.T0.AddMinutes(5));

        Assert.Equal(["c-1", "c-1", "c-2", "s500"], await ContactsAsync(s, string.Empty));
        Assert.Equal(["c-1", "c-2"], await ContactsAsync(s, "status=succeeded"));
        Assert.Equal(["s500"], await ContactsAsync(s, "status=PENDING"));
        Assert.Equal(["c-1"], await ContactsAsync(s, "status=skipped"));
        Assert.Equal(["c-1", "c-2", "s500"], await ContactsAsync(s, $"connectionId={s.A}"));
        Assert.Equal(["c-2"], await ContactsAsync(s, $"workflowWebhookId={s.A2}"));
        Assert.Equal(["c-1", "c-1"], await ContactsAsync(s, "contactId=c-1"));
        Assert.Equal(["c-1", "c-1"], await ContactsAsync(s, "email=" + Uri.EscapeDataString("ANA@example.com")));
        // The identifier is the email, else the phone, else the contact id; an email in any case.
        Assert.Equal(["c-1", "c-1"], await ContactsAsync(s, "identifier=" + Uri.EscapeDataString("Ana@EXAMPLE.com")));
        Assert.Equal(["c-2"], await ContactsAsync(s, "identifier=" + Uri.EscapeDataString("+15550002")));
        Assert.Equal(["s500"], await ContactsAsync(s, "identifier=s500"));
        Assert.Empty(await ContactsAsync(s, "identifier=c-2"));
        Assert.Empty(await ContactsAsync(s, "identifier=c-1"));
        Assert.Equal(["c-1", "c-2"], await ContactsAsync(s, $"from={t1}"));
        Assert.Equal(["c-1", "s500"], await ContactsAsync(s, $"to={t1}"));

        Assert.Equal(["c-1", "c-2"], await ContactsAsync(s, $"connectionId={s.A}&status=succeeded"));
        Assert.Equal(["c-1"], await ContactsAsync(s, $"contactId=c-1&connectionId={s.B}&status=skipped"));
        Assert.Equal(["c-1"], await ContactsAsync(s, $"email=ana@example.com&workflowWebhookId={s.A1}&to={t1}"));
        Assert.Equal(["c-1"], await ContactsAsync(s, $"identifier=ana@example.com&status=skipped"));
        Assert.Empty(await ContactsAsync(s, $"identifier=s500&status=succeeded"));
        Assert.Empty(await ContactsAsync(s, $"connectionId={s.B}&status=succeeded"));
    }

    [SkippableFact]
    public async Task Items_are_newest_first_in_stable_pages_without_payloads_or_bodies()
    {
        var s = await ScenarioAsync();
        var all = await s.Admin.AllPagesAsync("/v1/deliveries", limit: 1);
        Assert.Equal(4, all.Count);
        var ids = all.Select(d => d.Id()).ToList();
        Assert.Equal(ids.OrderByDescending(id => id, StringComparer.Ordinal), ids);
        Assert.Equal(4, ids.Distinct().Count());

        var failedOnce = all.Single(d => d.Str("contactId") == "s500");
        Assert.False(failedOnce.TryGetProperty("lastResponse", out _));
        Assert.False(failedOnce.TryGetProperty("payload", out _));
        Assert.Equal(500, failedOnce.GetProperty("lastStatusCode").GetInt32());
        Assert.Equal("http_error", failedOnce.Str("lastOutcome"));
        Assert.Equal(1, failedOnce.GetProperty("attempts").GetInt32());
        Assert.StartsWith("msg_", failedOnce.Str("webhookId"), StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("status=1", "status")]
    [InlineData("status=lost", "status")]
    [InlineData("connectionId=x", "connectionId")]
    [InlineData("workflowWebhookId=x", "workflowWebhookId")]
    [InlineData("from=later", "from")]
    [InlineData("from=2026-11-02T00:00:00Z&to=2026-11-02T00:00:00Z", "to")]
    [InlineData("limit=501", "limit")]
    public async Task A_bad_filter_value_is_a_400_naming_the_parameter(string query, string parameter)
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var problem = await (await admin.GetAsync(new Uri("/v1/deliveries?" + query, UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.GetRawText());
    }

    [SkippableFact]
    public async Task An_identifier_longer_than_the_stored_one_can_be_is_a_400()
    {
        var account = await NewAccountAsync();
        using var admin = account.Admin();
        var problem = await (await admin.GetAsync(new Uri("/v1/deliveries?identifier=" + new string('x', 321), UriKind.Relative))).AssertProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Equal("identifier must be 1 to 320 characters.", problem.GetProperty("errors").GetProperty("identifier")[0].GetString());
    }

    [SkippableFact]
    public async Task Another_accounts_deliveries_never_appear_and_their_ids_are_404()
    {
        var s = await ScenarioAsync();
        var other = await NewAccountAsync();
        using var otherAdmin = other.Admin();
        var mine = await s.Admin.AllPagesAsync("/v1/deliveries");

        Assert.Empty(await otherAdmin.AllPagesAsync("/v1/deliveries"));
        Assert.Empty(await otherAdmin.AllPagesAsync($"/v1/deliveries?connectionId={s.A}"));
        Assert.Empty(await otherAdmin.AllPagesAsync("/v1/deliveries?contactId=c-1"));
        await (await otherAdmin.GetAsync(new Uri($"/v1/deliveries/{mine[0].Id()}", UriKind.Relative))).AssertProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.All(mine, d => Assert.NotEqual(JsonValueKind.Undefined, d.GetProperty("id").ValueKind));
    }
}

[Collection(SqliteCollection.Name)]
public sealed class DeliveriesListTests_Sqlite(SqliteApi fixture) : DeliveriesListTests<SqliteApi>(fixture);

[Collection(PostgresCollection.Name)]
public sealed class DeliveriesListTests_Postgres(PostgresApi fixture) : DeliveriesListTests<PostgresApi>(fixture);
