using Quartz;
using WebhooksApi.Activities;

namespace WebhooksApi.Jobs;

/// <summary>Cuts and sends activity batches (by age, and retries when due). Never two at once, cluster-wide.</summary>
[DisallowConcurrentExecution]
internal sealed class ActivityFlushJob(ActivityFeed feed) : IJob
{
    public static readonly JobKey Key = new("activity-flush", "activity");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken) => await feed.FlushAsync(cancellationToken);
}
