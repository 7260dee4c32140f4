using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>
/// Another app node on a database of its own (same provider as the fixture), with extra
/// settings, and an account on it: for tests that need a dispatcher nobody else shares or
/// settings the shared node must not have. The test owns it and disposes it.
/// </summary>
public sealed class PrivateNode(WebApplicationFactory<Program> factory, HttpClient admin, string connectionString) : IAsyncDisposable
{
    public WebApplicationFactory<Program> Factory { get; } = factory;

    public HttpClient Admin { get; } = admin;

    public string ConnectionString { get; } = connectionString;

    public static async Task<PrivateNode> StartAsync(ApiFixture fixture, params (string Key, string Value)[] settings) =>
        await StartAsync(fixture, _ => { }, settings);

    public static async Task<PrivateNode> StartAsync(ApiFixture fixture, Action<IWebHostBuilder> configure, params (string Key, string Value)[] settings)
    {
        // Removed with the fixture's databases, after the test has disposed the node.
        var connectionString = await fixture.Databases.CreateRequiredAsync();
        var factory = fixture.CreateFactory(b =>
        {
            b.UseSetting("ConnectionStrings:Webhooks", connectionString);
            foreach (var (key, value) in settings)
            {
                b.UseSetting(key, value);
            }

            configure(b);
        });
        return new PrivateNode(factory, await AccountClientAsync(factory, "private"), connectionString);
    }

    /// <summary>Another node on the same database, with its own settings, using the same account key.</summary>
    public PrivateNode Sibling(ApiFixture fixture, Action<IWebHostBuilder> configure, params (string Key, string Value)[] settings)
    {
        var factory = fixture.CreateFactory(b =>
        {
            b.UseSetting("ConnectionStrings:Webhooks", ConnectionString);
            foreach (var (key, value) in settings)
            {
                b.UseSetting(key, value);
            }

            configure(b);
        });
        var admin = factory.CreateClient();
        admin.DefaultRequestHeaders.Authorization = Admin.DefaultRequestHeaders.Authorization;
        return new PrivateNode(factory, admin, ConnectionString);
    }

    /// <summary>A connection that passed its test send and is active, with a workflow step bound to it.</summary>
    public async Task<WorkflowStep> ActiveStepAsync(string url, Dictionary<string, object?> connection)
    {
        var id = (await Admin.CreateConnectionAsync(connection)).Id();
        var test = await Admin.TestConnectionAsync(id);
        Assert.True(test.Str("outcome") == "ok", $"test send: {test.GetRawText()}");
        (await Admin.ActionAsync(id, "activate")).EnsureSuccessStatusCode();
        var step = await (await Admin.PostJsonAsync("/v1/workflow-webhooks", new { name = "call", workflowId = "wf-" + Guid.NewGuid().ToString("N")[..8], stepId = "s1", connectionId = id }))
            .ReadJsonAsync(HttpStatusCode.Created);
        return new WorkflowStep(Admin, id, step.Id(), url);
    }

    /// <summary>An active step in a second account on this node, its connection tested like <see cref="ActiveStepAsync"/>'s.</summary>
    public async Task<WorkflowStep> SecondAccountStepAsync(string url)
    {
        // Its client lives as long as the node's factory, which the test disposes.
        var second = new PrivateNode(Factory, await AccountClientAsync(Factory, "second"), ConnectionString);
        return await second.ActiveStepAsync(url, Builders.Connection(url));
    }

    /// <summary>A new account on the node (by the operator key), and a client with its admin key.</summary>
    private static async Task<HttpClient> AccountClientAsync(WebApplicationFactory<Program> factory, string name)
    {
        using var operatorClient = factory.CreateClient();
        operatorClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiFixture.OperatorKey);
        var account = await (await operatorClient.PostJsonAsync("/v1/accounts", new { name })).ReadJsonAsync(HttpStatusCode.Created);
        var admin = factory.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.GetProperty("apiKey").Str("key"));
        return admin;
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        await Factory.DisposeAsync();
    }
}
