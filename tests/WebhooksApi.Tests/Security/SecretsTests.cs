using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Security;

[Collection(SqliteCollection.Name)]
public sealed class SecretsTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    [Fact]
    public async Task Secrets_never_appear_in_responses_stored_attempts_or_application_logs()
    {
        SkipIfUnavailable();
        var logs = new CapturedLogs();
        await using var factory = Fixture.CreateFactory(b => b.ConfigureLogging(l => l.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)));
        var account = await Fixture.CreateAccountAsync();
        using var admin = factory.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.AdminKey);

        var secrets = new List<string> { "Pa55word-basic-XYZ", "Tok3n-bearer-XYZ", "ApiK3y-value-XYZ" };
        var responses = new StringBuilder();
        async Task<string> Send(HttpResponseMessage response)
        {
            var text = await response.Content.ReadAsStringAsync();
            responses.AppendLine(text);
            return text;
        }

        var connectors = new[]
        {
            new { name = "basic", type = "basic", basic = (object?)new { username = "svc", password = secrets[0] }, bearer = (object?)null, apiKey = (object?)null },
            new { name = "bearer", type = "bearer", basic = (object?)null, bearer = (object?)new { token = secrets[1] }, apiKey = (object?)null },
            new { name = "key", type = "api_key", basic = (object?)null, bearer = (object?)null, apiKey = (object?)new { name = "key", value = secrets[2], @in = "query" } },
        };
        foreach (var connector in connectors)
        {
            var created = System.Text.Json.JsonDocument.Parse(await Send(await admin.PostJsonAsync("/v1/auth-connectors", connector))).RootElement;
            var url = Fixture.Receiver.NewEndpoint(ctx => { ctx.Response.StatusCode = 500; return Task.CompletedTask; });
            var connection = System.Text.Json.JsonDocument.Parse(await Send(await admin.PostJsonAsync("/v1/connections", Builders.Connection(url).With("authConnectorId", created.Id())))).RootElement;
            // The signing secret is shown once at creation; from then on it is a secret too.
            secrets.Add(connection.Str("signingSecret"));
            await Send(await admin.PostJsonAsync($"/v1/connections/{connection.Id()}/test", new { }));
            await Send(await admin.GetAsync(new Uri($"/v1/connections/{connection.Id()}", UriKind.Relative)));
            await Send(await admin.GetAsync(new Uri($"/v1/auth-connectors/{created.Id()}", UriKind.Relative)));
        }

        await Send(await admin.GetAsync(new Uri("/v1/connections", UriKind.Relative)));
        await Send(await admin.GetAsync(new Uri("/v1/api-keys", UriKind.Relative)));

        await using var scope = factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
        var accountId = Guid.Parse(account.Id);
        var attempts = await db.Attempts.AsNoTracking().Where(a => a.AccountId == accountId).ToListAsync();
        Assert.Equal(3, attempts.Count);
        var stored = string.Join('\n', attempts.Select(a => $"{a.RequestUrl} {a.RequestHeadersJson} {a.RequestBody} {a.Error}"));
        var connectorRows = string.Join('\n', (await db.AuthConnectors.AsNoTracking().Where(c => c.AccountId == accountId).ToListAsync()).Select(c => c.PublicJson + c.SecretsProtected));
        var connectionRows = string.Join('\n', (await db.Connections.AsNoTracking().Where(c => c.AccountId == accountId).ToListAsync()).Select(c => c.SigningSecretProtected));

        var signingSecrets = secrets.Skip(3).ToList();
        var shownOnce = responses.ToString();
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, connectorRows, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, connectionRows, StringComparison.Ordinal);
            Assert.DoesNotContain(logs.Lines, line => line.Contains(secret, StringComparison.Ordinal));
            var expectedInResponses = signingSecrets.Contains(secret) ? 1 : 0;
            Assert.Equal(expectedInResponses, Occurrences(shownOnce, secret));
        }

        Assert.DoesNotContain(logs.Lines, line => line.Contains(account.AdminKey, StringComparison.Ordinal));
        Assert.NotEmpty(logs.Lines);
        Assert.Contains("****", stored, StringComparison.Ordinal);
    }

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
