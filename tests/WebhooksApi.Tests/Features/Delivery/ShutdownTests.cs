using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Delivery;

[Collection(SqliteCollection.Name)]
public sealed class ShutdownTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    [Fact]
    public async Task A_request_in_flight_at_shutdown_finishes_and_is_recorded()
    {
        var account = await NewAccountAsync();
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var url = Fixture.Receiver.NewEndpoint(async ctx =>
        {
            if ((await new StreamReader(ctx.Request.Body).ReadToEndAsync()).Contains("workflow.execution", StringComparison.Ordinal))
            {
                arrived.TrySetResult();
                await release.Task.WaitAsync(TimeSpan.FromSeconds(20));
            }
        });
        var step = await account.ActiveStepAsync(url);

        // A second node takes the execution (its dispatcher is the one woken), then shuts down mid-request.
        var node = Fixture.CreateFactory(b => b.UseSetting("Delivery:ShutdownGrace", "00:00:20"));
        using var client = node.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.AdminKey);
        var accepted = await (await client.PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", EngineBuilders.Contact("sd-1"))).ReadJsonAsync(System.Net.HttpStatusCode.Accepted);
        var id = accepted.GetProperty("items")[0].Id();
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var stopping = node.DisposeAsync().AsTask();
        release.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        var delivery = await step.DeliveryAsync(id);
        Assert.Equal("succeeded", delivery.Str("status"));
        Assert.Equal(1, delivery.GetProperty("attempts").GetInt32());
    }
}
