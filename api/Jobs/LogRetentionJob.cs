using Quartz;

namespace WebhooksApi.Jobs;

/// <summary>Runs the log retention purge on its schedule; one node at a time in a cluster.</summary>
[DisallowConcurrentExecution]
internal sealed class LogRetentionJob(LogRetention retention) : IJob
{
    public static readonly JobKey Key = new("log-retention", "maintenance");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await retention.RunAsync(cancellationToken);
}
