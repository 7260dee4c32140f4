using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace WebhooksApi.Tests.Infrastructure;

public static class QuartzJobs
{
    /// <summary>
    /// Fires a job through Quartz (as its schedule would) and waits for a run that began after
    /// this call: every run already begun, plus one more. Waiting for any run to finish let one
    /// begun before the test moved the clock stand in for it (a clean-clone CI run of the activity
    /// feed saw 2 batches where the next run sends 5).
    /// </summary>
    /// <param name="started">The job's runs begun on this node so far.</param>
    /// <param name="runs">The job's runs finished on this node so far.</param>
    public static async Task RunAsync(IServiceProvider services, JobKey job, Func<int> started, Func<int> runs, string what)
    {
        var before = started();
        var scheduler = await services.GetRequiredService<ISchedulerFactory>().GetScheduler();
        await scheduler.TriggerJob(job);
        // A minute, not the default 20 s: the job goes through Quartz's store on the shared
        // database, behind whatever the collection's earlier tests left it doing (a clean-clone
        // run beside a second one, each twice as slow as alone, timed out here at 20 s).
        try
        {
            await Eventually.WaitAsync(() => runs() > before, $"the {what} job to run", TimeSpan.FromMinutes(1));
        }
        catch (TimeoutException e)
        {
            // Whether a run began tells a trigger Quartz never fired from a run that was slow.
            throw new TimeoutException($"{e.Message} (runs begun before the trigger: {before}; begun now: {started()}; finished: {runs()})", e);
        }
    }
}
