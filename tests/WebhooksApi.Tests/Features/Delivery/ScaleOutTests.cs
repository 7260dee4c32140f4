using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Quartz;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Features.Delivery;

/// <summary>Two service nodes on one PostgreSQL share the work: each delivery sent once, Quartz clustered.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ScaleOutTests(PostgresApi fixture) : ApiTests<PostgresApi>(fixture)
{
    [SkippableFact]
    public async Task Two_nodes_deliver_a_batch_with_each_delivery_sent_exactly_once()
    {
        var account = await NewAccountAsync();
        var url = Fixture.Receiver.NewEndpoint(async ctx => await Task.Delay(2));
        var step = await account.ActiveStepAsync(url);
        await using var second = Fixture.CreateFactory(_ => { });
        using var secondClient = second.CreateClient();
        secondClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.AdminKey);
        var nodeA = Fixture.Factory.Services.GetRequiredService<WebhooksApi.Delivery.Dispatcher>();
        var nodeB = second.Services.GetRequiredService<WebhooksApi.Delivery.Dispatcher>();
        var sentA = nodeA.Sent;

        // Executions arrive at both nodes, as behind a load balancer; each wakes its own dispatcher.
        var batches = Enumerable.Range(0, 8).Select(b => new { items = Enumerable.Range(0, 100).Select(i => new { contact = new { id = $"n-{b}-{i}" } }).ToArray() }).ToList();
        var sends = batches.Select((batch, i) => (i % 2 == 0 ? step.Admin : secondClient).PostJsonAsync($"/v1/workflow-webhooks/{step.StepId}/executions", batch));
        foreach (var response in await Task.WhenAll(sends))
        {
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        }

        var workflow = () => Fixture.Receiver.Received(url).Where(r => r.BodyText.Contains("workflow.execution", StringComparison.Ordinal)).ToList();
        await Eventually.WaitAsync(() => workflow().Count >= 800, "800 deliveries", TimeSpan.FromSeconds(60));

        var ids = workflow().Select(r => r.Header("webhook-id")).ToList();
        Assert.Equal(800, ids.Count);
        Assert.Equal(800, ids.Distinct().Count());
        Assert.True(nodeA.Sent - sentA > 0, "node A sent nothing");
        Assert.True(nodeB.Sent > 0, "node B sent nothing");

        var schedulerA = await Fixture.Factory.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        var schedulerB = await second.Services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        Assert.NotEqual(schedulerA.SchedulerInstanceId, schedulerB.SchedulerInstanceId);
    }
}
