using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Client;
using WebhooksApi.Tests.Infrastructure;
// ASP.NET Core has a type of the same name (Microsoft.AspNetCore.Http, imported for WriteAsync).
using HttpValidationProblemDetails = WebhooksApi.Client.HttpValidationProblemDetails;

namespace WebhooksApi.Tests.Clients;

/// <summary>
/// The generated C# client (clients/csharp) against the real service: every call here goes
/// through it, so a document the client cannot follow (a renamed operation, an enum sent as a
/// number, a problem body it cannot read) fails here and not in a consumer's code.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class CSharpClientTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    [SkippableFact]
    public async Task A_settings_page_story_runs_through_the_generated_client()
    {
        var adminKey = await NewAccountThroughClientAsync();
        using var admin = Fixture.Client(adminKey);
        var key = await new ApiKeysClient(admin).CreateAsync(new ApiKeyIn { Name = "settings page", Scopes = [ApiScope.ConnectionsManage] });
        Assert.Equal([ApiScope.ConnectionsManage], key.Scopes);

        using var http = Fixture.Client(key.Key);
        var connector = await new AuthConnectorsClient(http).CreateAsync(new AuthConnectorIn
        {
            Name = "CRM token",
            Type = AuthConnectorType.Bearer,
            Bearer = new BearerAuthIn { Token = "crm-secret-token" },
        });
        Assert.Equal(AuthConnectorType.Bearer, connector.Type);

        var connections = new ConnectionsClient(http);
        var url = Fixture.Receiver.NewEndpoint();
        var created = await connections.CreateAsync(new ConnectionIn { Title = "CRM", Url = url, Method = WebhookMethod.PUT, AuthConnectorId = connector.Id });
        Assert.Equal(ConnectionStatus.Pending, created.Status);
        Assert.Equal(WebhookMethod.PUT, created.Method);
        Assert.StartsWith("whsec_", created.SigningSecret, StringComparison.Ordinal);

        var test = await connections.TestAsync(created.Id);
        Assert.Equal("ok", test.Outcome);
        Assert.True(test.CanActivate);
        var arrived = Assert.Single(Fixture.Receiver.Received(url));
        Assert.Equal("PUT", arrived.Method);
        Assert.Equal("Bearer crm-secret-token", arrived.Header("Authorization"));

        Assert.Equal(ConnectionStatus.Active, (await connections.ActivateAsync(created.Id)).Status);
        var active = await connections.ListAsync(status: "active");
        Assert.Equal(created.Id, Assert.Single(active.Items).Id);
        Assert.Null(active.NextCursor);

        var refused = await Assert.ThrowsAsync<ApiException<HttpValidationProblemDetails>>(() =>
            connections.CreateAsync(new ConnectionIn { Title = "CRM", Url = "ftp://crm.example.com/hooks" }));
        Assert.Equal(400, refused.StatusCode);
        Assert.Equal("urn:webhooks-api:problem:validation", refused.Result.Type);
        Assert.False(string.IsNullOrWhiteSpace(refused.Result.Detail));
        Assert.NotNull(refused.Result.Errors);
        Assert.NotEmpty(refused.Result.Errors["url"]);
        Assert.False(string.IsNullOrEmpty(refused.Result.TraceId));
        Assert.Equal(refused.Result.Errors["url"], refused.GetProblem()?.Errors?["url"]);
    }

    [SkippableFact]
    public async Task A_patch_changes_only_the_fields_that_were_set()
    {
        // Unset properties of ConnectionPatch are left out of the JSON: sent as null they would
        // clear the body template and the rate limit (and a null url is a 400).
        var adminKey = await NewAccountThroughClientAsync();
        using var http = Fixture.Client(adminKey);
        var connections = new ConnectionsClient(http);
        var created = await connections.CreateAsync(new ConnectionIn
        {
            Title = "CRM",
            Url = Fixture.Receiver.NewEndpoint(),
            BodyTemplate = "{\"email\": \"{{contact.email}}\"}",
            RateLimitPerSecond = 20,
        });

        var renamed = await connections.UpdateAsync(created.Id, new ConnectionPatch { Title = "CRM (prod)" });

        Assert.Equal("CRM (prod)", renamed.Title);
        Assert.Equal(created.Url, renamed.Url);
        Assert.Equal(created.BodyTemplate, renamed.BodyTemplate);
        Assert.Equal(20, renamed.RateLimitPerSecond);
    }

    [SkippableFact]
    public async Task Problems_read_the_same_for_declared_and_undeclared_statuses()
    {
        var adminKey = await NewAccountThroughClientAsync();
        using var http = Fixture.Client(adminKey);
        var connections = new ConnectionsClient(http);
        var created = await connections.CreateAsync(new ConnectionIn { Title = "CRM", Url = Fixture.Receiver.NewEndpoint() }, idempotency_Key: "create-crm");

        // Declared in the document (409): a typed exception.
        var conflict = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => connections.ActivateAsync(created.Id));
        Assert.Equal("urn:webhooks-api:problem:conflict", conflict.GetProblem()?.Type);
        Assert.False(string.IsNullOrEmpty(conflict.Result.TraceId));

        // A reused Idempotency-Key's 422 is declared on every creating POST: typed too.
        var reused = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() =>
            connections.CreateAsync(new ConnectionIn { Title = "Other", Url = Fixture.Receiver.NewEndpoint() }, idempotency_Key: "create-crm"));
        Assert.Equal(422, reused.StatusCode);
        Assert.Equal("urn:webhooks-api:problem:idempotency-key-reused", reused.GetProblem()?.Type);

        // Not declared for this operation (a body over the limit, 413): a plain ApiException, read the same way.
        var tooLarge = await Assert.ThrowsAsync<ApiException>(() =>
            connections.CreateAsync(new ConnectionIn { Title = new string('t', 1024 * 1024 + 1), Url = Fixture.Receiver.NewEndpoint() }));
        Assert.Equal(413, tooLarge.StatusCode);
        var problem = tooLarge.GetProblem();
        Assert.Equal("urn:webhooks-api:problem:payload-too-large", problem?.Type);
        Assert.False(string.IsNullOrWhiteSpace(problem?.Detail));

        using var anonymous = Fixture.Client("whk_not_a_key");
        var unauthorized = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => new ConnectionsClient(anonymous).ListAsync());
        Assert.Equal(401, unauthorized.StatusCode);
        Assert.Equal("urn:webhooks-api:problem:unauthorized", unauthorized.Result.Type);
    }

    [SkippableFact]
    public async Task A_workflow_step_queues_and_waits_through_the_generated_client()
    {
        var adminKey = await NewAccountThroughClientAsync();
        using var http = Fixture.Client(adminKey);
        var connections = new ConnectionsClient(http);
        var url = Fixture.Receiver.NewEndpoint(ctx => ctx.Response.WriteAsync("{\"promoCode\":\"SAVE-42\"}"));
        var connection = await connections.CreateAsync(new ConnectionIn { Title = "Promo codes", Url = url });
        Assert.True((await connections.TestAsync(connection.Id)).CanActivate);
        await connections.ActivateAsync(connection.Id);
        var workflows = new WorkflowWebhooksClient(http);
        var step = await workflows.CreateAsync(new WorkflowWebhookIn { Name = "get_promo", WorkflowId = "wf-promo", StepId = "s1", ConnectionId = connection.Id, CaptureResponse = true });
        ExecutionIn Contact(string id) => new() { Contact = new JsonObject { ["id"] = id, ["email"] = $"{id}@example.com" } };

        var queued = await workflows.EnqueueAsync(step.Id, Contact("c-1"));
        Assert.Equal(DeliveryStatus.Pending, Assert.Single(queued.Items).Status);
        Assert.Equal(1, queued.Pending);

        // Why EnqueueAsync exists: the generated method reports the 202 as an exception. When this
        // stops throwing, the document has been fixed and EnqueueAsync can go.
        var accepted = await Assert.ThrowsAsync<ApiException<ExecutionsOut>>(() => workflows.ExecuteAsync(step.Id, Contact("c-2")));
        Assert.Equal(202, accepted.StatusCode);

        var waited = await workflows.ExecuteAsync(step.Id, Contact("c-3"), wait: true);
        Assert.Equal(DeliveryStatus.Succeeded, waited.Status);
        Assert.Equal("SAVE-42", waited.LastResponse?.Json?["promoCode"]?.GetValue<string>());
        var deliveries = new DeliveriesClient(http);
        Assert.Equal("c-3", (await deliveries.GetAsync(waited.Id)).ContactId);
        // The identifier filter, named: it comes after the parameters older callers pass by position.
        var found = await deliveries.ListAsync(identifier: "C-3@Example.com");
        Assert.Equal(waited.Id, Assert.Single(found.Items).Id);
    }

    [SkippableFact]
    public async Task AddWebhooksApiClient_registers_every_client_with_the_key()
    {
        var adminKey = await NewAccountThroughClientAsync();
        var services = new ServiceCollection();
        services.AddWebhooksApiClient(new Uri("http://localhost"), adminKey)
            .ConfigurePrimaryHttpMessageHandler(() => Fixture.Factory.Server.CreateHandler());
        await using var provider = services.BuildServiceProvider();

        var connections = provider.GetRequiredService<IConnectionsClient>();
        var created = await connections.CreateAsync(new ConnectionIn { Title = "CRM", Url = Fixture.Receiver.NewEndpoint() });
        Assert.Equal(created.Id, Assert.Single((await provider.GetRequiredService<ConnectionsClient>().ListAsync()).Items).Id);
        Assert.Single((await provider.GetRequiredService<IApiKeysClient>().ListAsync()).Items);
        Assert.Empty((await provider.GetRequiredService<ITemplatesClient>().ListAsync()).Items);
        Assert.NotEmpty((await provider.GetRequiredService<IPlaceholdersClient>().ListAsync()).Placeholders);
    }

    /// <summary>A fresh account through the operator endpoint, with the generated client; returns its admin key.</summary>
    private async Task<string> NewAccountThroughClientAsync()
    {
        SkipIfUnavailable();
        using var operatorHttp = Fixture.Client(ApiFixture.OperatorKey);
        var account = await new AccountsClient(operatorHttp).CreateAsync(new AccountIn { Name = "client" });
        return account.ApiKey.Key;
    }
}
