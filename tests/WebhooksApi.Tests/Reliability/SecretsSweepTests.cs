using System.Data.Common;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WebhooksApi.Persistence;
using WebhooksApi.Tests.Infrastructure;
using Xunit.Abstractions;

namespace WebhooksApi.Tests.Reliability;

/// <summary>
/// Collects every secret an account was given or shown (its API keys, auth connector passwords,
/// tokens and key values, signing secrets after creation, the operator and bootstrap keys) and
/// greps for them everywhere they could leak: every GET operation's response, every row of every
/// table, every application log line and the exceptions logged with them.
/// </summary>
public abstract class SecretsSweepTests<TFixture>(TFixture fixture, ITestOutputHelper output) : ApiTests<TFixture>(fixture)
    where TFixture : ApiFixture
{
    [SkippableFact]
    public async Task No_secret_appears_in_any_response_row_or_log_line()
    {
        SkipIfUnavailable();
        var logs = new CapturedLogs();
        await using var factory = Fixture.CreateFactory(b => b.ConfigureLogging(l => l.AddProvider(logs).AddFilter<CapturedLogs>(null, LogLevel.Trace)));
        HttpClient ClientFor(string? key)
        {
            var client = factory.CreateClient();
            client.DefaultRequestHeaders.Authorization = key is null ? null : new AuthenticationHeaderValue("Bearer", key);
            return client;
        }

        var seed = await SeededAccount.CreateAsync(Fixture, withActivity: true, ClientFor);
        var secrets = seed.Secrets.Concat([ApiFixture.OperatorKey, ApiFixture.BootstrapKey]).ToList();
        using var admin = ClientFor(seed.Account.AdminKey);
        using var bootstrap = ClientFor(ApiFixture.BootstrapKey);
        (await bootstrap.GetAsync(new Uri("/v1/api-keys", UriKind.Relative))).EnsureSuccessStatusCode();

        // Creating responses show a secret once, and are stored for Idempotency-Key replays.
        // The stored copy is encrypted, and a replay still gives the key back.
        var idempotencyKey = "sweep-" + Guid.NewGuid().ToString("N");
        async Task<string> CreateKeyAsync()
        {
            using var idempotent = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/api-keys", UriKind.Relative));
            idempotent.Headers.Add("Idempotency-Key", idempotencyKey);
            idempotent.Content = Answers.JsonText("""{"name":"replayable","scopes":["logs:read"]}""");
            return (await (await admin.SendAsync(idempotent)).ReadJsonAsync(System.Net.HttpStatusCode.Created)).Str("key");
        }

        secrets.Add(await CreateKeyAsync());
        Assert.Equal(secrets[^1], await CreateKeyAsync());

        // A wrong key that is a near miss of a real one, for the log lines of a refused key.
        using (var nearMiss = ClientFor(seed.Account.AdminKey[..^1] + "x"))
        {
            await nearMiss.GetAsync(new Uri("/v1/connections", UriKind.Relative));
        }

        var api = await ApiSurface.LoadAsync(admin);
        var responses = new StringBuilder();
        var gets = 0;
        foreach (var operation in api.Operations.Where(o => o.Method == "GET"))
        {
            var path = operation.PathWith(operation.PathParameter is null ? null : seed.IdFor(operation));
            if (operation.QueryParameters.Any(p => p.Name == "from") && operation.PathParameter is null)
            {
                path += "?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
            }

            using var response = await admin.GetAsync(new Uri(path, UriKind.Relative));
            responses.AppendLine(await response.Content.ReadAsStringAsync());
            gets++;
        }

        var rows = await DumpAllTablesAsync(factory.Services);
        var logText = string.Join('\n', logs.Lines);
        var leaks = new List<string>();
        foreach (var secret in secrets.Distinct())
        {
            var shown = secret.Length > 12 ? secret[..12] + "..." : secret;
            if (responses.ToString().Contains(secret, StringComparison.Ordinal))
            {
                leaks.Add($"{shown} in a GET response");
            }

            if (rows.Contains(secret, StringComparison.Ordinal))
            {
                leaks.Add($"{shown} in a database row: ...{Around(rows, secret)}...");
            }

            if (logText.Contains(secret, StringComparison.Ordinal))
            {
                leaks.Add($"{shown} in a log line: {logs.Lines.First(l => l.Contains(secret, StringComparison.Ordinal))}");
            }
        }

        output.WriteLine($"{Fixture.Provider}: {secrets.Distinct().Count()} secrets searched in {gets} GET responses ({responses.Length} chars), {rows.Length} chars of table rows, {logs.Lines.Count} log lines");
        Assert.True(gets >= 15, $"only {gets} GET operations walked");
        Assert.NotEmpty(logs.Lines);
        Assert.Contains("****", rows, StringComparison.Ordinal);
        Assert.True(leaks.Count == 0, string.Join('\n', leaks));
    }

    private static string Around(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.Ordinal);
        return text[Math.Max(0, at - 120)..Math.Min(text.Length, at + secret.Length + 40)];
    }

    /// <summary>Every cell of every table the model maps, read through the raw connection (bytes as UTF-8 too).</summary>
    private static async Task<string> DumpAllTablesAsync(IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WebhooksDbContext>();
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync();
        var text = new StringBuilder();
        foreach (var table in db.Model.GetEntityTypes().Select(e => e.GetTableName()).OfType<string>().Distinct())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT * FROM \"{table}\"";
            await using DbDataReader reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    text.Append(reader.IsDBNull(i) ? string.Empty : reader.GetValue(i) switch
                    {
                        byte[] bytes => Encoding.UTF8.GetString(bytes),
                        var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
                    }).Append('\t');
                }

                text.Append('\n');
            }
        }

        return text.ToString();
    }
}

[Collection(SqliteCollection.Name)]
public sealed class SecretsSweepTests_Sqlite(SqliteApi fixture, ITestOutputHelper output) : SecretsSweepTests<SqliteApi>(fixture, output);

[Collection(PostgresCollection.Name)]
public sealed class SecretsSweepTests_Postgres(PostgresApi fixture, ITestOutputHelper output) : SecretsSweepTests<PostgresApi>(fixture, output);
