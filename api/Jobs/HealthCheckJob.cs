using Quartz;
using WebhooksApi.Delivery;

namespace WebhooksApi.Jobs;

/// <summary>Runs the health check on its schedule; one node at a time in a cluster.</summary>
[DisallowConcurrentExecution]
internal sealed class HealthCheckJob(HealthMonitor monitor) : IJob
{
    public static readonly JobKey Key = new("health-check", "delivery");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await monitor.RunAsync(cancellationToken);
}
