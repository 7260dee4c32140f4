using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>
/// The real app on a real database, shared by a test collection. Tests isolate themselves by
/// creating their own account (<see cref="CreateAccountAsync"/>), never by resetting tables.
/// </summary>
public abstract class ApiFixture : IAsyncLifetime
{
    public const string OperatorKey = "operator-test-key-0123456789abcdef";
    public const string BootstrapKey = "whk_bootstrap_test_key_0123456789abcdefghijklmnop";

    public static readonly JsonSerializerOptions Json = CreateJsonOptions();

    private WebApplicationFactory<Program>? _factory;
    private TestDatabases? _databases;

    public abstract string Provider { get; }

    /// <summary>Why this fixture's tests are skipped, or null when it runs.</summary>
    public string? Unavailable { get; protected set; }

    public string ConnectionString { get; protected set; } = string.Empty;

    /// <summary>The app's clock. Tests advance it; it starts at the real time.</summary>
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    public WebApplicationFactory<Program> Factory => _factory ?? throw new InvalidOperationException(Unavailable ?? "The fixture has not started.");

    /// <summary>The fixture's database and those its tests make for themselves; removed when the fixture is disposed.</summary>
    public TestDatabases Databases => _databases ??= new TestDatabases(Provider);

    /// <summary>A real HTTP receiver on 127.0.0.1, shared by the collection.</summary>
    public Receiver Receiver { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Receiver = await Receiver.StartAsync();
        await PrepareDatabaseAsync();
        if (Unavailable is not null)
        {
            return;
        }

        _factory = CreateFactory(_ => { });
        // Starting the server runs migrations and the bootstrap once, before tests run in parallel.
        using var client = _factory.CreateClient();
        (await client.GetAsync(new Uri("/readyz", UriKind.Relative))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        await Receiver.DisposeAsync();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        await Databases.DisposeAsync();
    }

    /// <summary>Another app instance on the same database, with extra settings.</summary>
    public WebApplicationFactory<Program> CreateFactory(Action<IWebHostBuilder> configure) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("Database:Provider", Provider);
            builder.UseSetting("ConnectionStrings:Webhooks", ConnectionString);
            builder.UseSetting("Operator:ApiKey", OperatorKey);
            builder.UseSetting("Bootstrap:ApiKey", BootstrapKey);
            // Receivers run on 127.0.0.1 over plain HTTP; the SSRF tests turn these off again.
            builder.UseSetting("Delivery:AllowHttp", "true");
            builder.UseSetting("Delivery:PrivateNetworkAllowList", "127.0.0.1,localhost");
            builder.ConfigureServices(services =>
            {
                services.Replace(ServiceDescriptor.Singleton<TimeProvider>(Time));
                services.Replace(ServiceDescriptor.Singleton<WebhooksApi.Security.IHostResolver, TestResolver>());
            });
            configure(builder);
        });

    protected abstract Task PrepareDatabaseAsync();

    public HttpClient Client(string? apiKey = null)
    {
        var client = Factory.CreateClient();
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>A fresh account through the operator endpoint, with its admin key.</summary>
    public async Task<TestAccount> CreateAccountAsync(string name = "test")
    {
        using var client = Client(OperatorKey);
        var response = await client.PostAsJsonAsync("/v1/accounts", new { name }, Json);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        return new TestAccount(this, body.GetProperty("id").GetString()!, body.GetProperty("apiKey").GetProperty("key").GetString()!);
    }

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        WebhooksApi.Http.HttpConventions.Configure(options);
        options.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip;
        return options;
    }
}

public sealed record TestAccount(ApiFixture Fixture, string Id, string AdminKey)
{
    public HttpClient Admin() => Fixture.Client(AdminKey);

    /// <summary>A key of this account with the given scopes.</summary>
    public async Task<string> KeyWithScopesAsync(params string[] scopes)
    {
        using var admin = Admin();
        var response = await admin.PostAsJsonAsync("/v1/api-keys", new { name = "scoped", scopes }, ApiFixture.Json);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }
}

public sealed class SqliteApi : ApiFixture
{
    public override string Provider => "sqlite";

    protected override async Task PrepareDatabaseAsync() => ConnectionString = await Databases.CreateRequiredAsync();
}

public sealed class PostgresApi : ApiFixture
{
    public override string Provider => "postgres";

    protected override async Task PrepareDatabaseAsync()
    {
        var (connectionString, unavailable) = await Databases.CreateAsync();
        ConnectionString = connectionString ?? string.Empty;
        Unavailable = unavailable;
    }
}

[CollectionDefinition(Name)]
public sealed class SqliteCollection : ICollectionFixture<SqliteApi>
{
    public const string Name = "sqlite";
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresApi>
{
    public const string Name = "postgres";
}

/// <summary>Base of the test classes that run once per provider; skips when the provider is unavailable.</summary>
public abstract class ApiTests<TFixture>(TFixture fixture)
    where TFixture : ApiFixture
{
    protected TFixture Fixture { get; } = fixture;

    protected void SkipIfUnavailable() => Skip.If(Fixture.Unavailable is not null, Fixture.Unavailable);

    protected async Task<TestAccount> NewAccountAsync()
    {
        SkipIfUnavailable();
        return await Fixture.CreateAccountAsync();
    }
}
