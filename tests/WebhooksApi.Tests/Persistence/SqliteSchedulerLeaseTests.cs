using Microsoft.Extensions.DependencyInjection;
using WebhooksApi.Delivery;
using WebhooksApi.Jobs;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// One process per SQLite file runs Quartz: a second node on the same file stands by (a
/// non-clustered scheduler resets the store's triggers and fired rows when it starts, the first
/// node's included) and takes over when the first stops.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class SqliteSchedulerLeaseTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    [Fact]
    public async Task A_second_node_on_the_same_file_stands_by_and_runs_the_jobs_once_the_first_stops()
    {
        await using var first = await PrivateNode.StartAsync(Fixture);
        await using var second = first.Sibling(Fixture, _ => { });
        var firstLease = first.Factory.Services.GetRequiredService<SqliteSchedulerLease>();
        var secondLease = second.Factory.Services.GetRequiredService<SqliteSchedulerLease>();
        Assert.True(firstLease.Running, "the node that started first runs the scheduler");
        Assert.False(secondLease.Running, "a second node on the same file stands by");

        // The standing-by node still serves the API.
        (await second.Admin.CreateConnectionAsync(Builders.Connection(Fixture.Receiver.NewEndpoint()))).Id();

        await first.DisposeAsync();
        await Eventually.WaitAsync(() => secondLease.Running, "the second node to take the scheduler over", SqliteSchedulerLease.Retry * 6);

        var monitor = second.Factory.Services.GetRequiredService<HealthMonitor>();
        await QuartzJobs.RunAsync(second.Factory.Services, HealthCheckJob.Key, () => monitor.Started, () => monitor.Runs, "health check");
    }
}
