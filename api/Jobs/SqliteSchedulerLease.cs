using Quartz;
using WebhooksApi.Persistence;

namespace WebhooksApi.Jobs;

/// <summary>
/// On SQLite, Quartz runs in one process per database file: the one holding the lock file
/// <c>&lt;database&gt;.scheduler</c>. Quartz's store is not clustered on SQLite (SQLite has no
/// row locks for it), and a non-clustered scheduler takes the store's tables as its own: at start
/// it resets every trigger it finds acquired or blocked and deletes every fired-trigger row, other
/// processes' included, and Quartz forbids two such schedulers on one store. A second process on
/// the same file (a deploy whose new process starts before the old one stops, a second instance
/// started by mistake, the tests' extra nodes on a shared database) would reset the first one's
/// jobs under it. It now stands by and takes the scheduler over when the lock is released (the
/// kernel releases it with its holder, however that process ends). Deliveries do not depend on
/// it: every process claims and sends.
/// </summary>
internal sealed partial class SqliteSchedulerLease(ISchedulerFactory schedulers, string lockPath, ILogger<SqliteSchedulerLease> logger) : BackgroundService
{
    /// <summary>How often a standing-by process tries the lock again.</summary>
    internal static readonly TimeSpan Retry = TimeSpan.FromSeconds(5);

    private FileStream? _held;
    private IScheduler? _scheduler;
    private bool _running;

    /// <summary>Whether this process holds the lock and runs the scheduler.</summary>
    public bool Running => Volatile.Read(ref _running);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The first try runs within the host's start, before its first await: the process that
        // starts alone on a file always runs the jobs from its start.
        for (var told = false; (_held = SqliteFiles.TryLock(lockPath)) is null; told = true)
        {
            if (!told)
            {
                LogStandingBy(lockPath);
            }

            try
            {
                await Task.Delay(Retry, TimeProvider.System, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        _scheduler = await schedulers.GetScheduler(stoppingToken);
        await _scheduler.Start(stoppingToken);
        Volatile.Write(ref _running, true);
        LogRunning(lockPath);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_scheduler is { } scheduler)
        {
            // As Quartz's own hosted service is set up here: jobs in flight finish first.
            await scheduler.Shutdown(waitForJobsToComplete: true, cancellationToken);
            Volatile.Write(ref _running, false);
        }

        if (_held is { } held)
        {
            await held.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Another process runs the scheduled jobs of this SQLite database ({LockFile}); this one takes over when it stops")]
    private partial void LogStandingBy(string lockFile);

    [LoggerMessage(Level = LogLevel.Information, Message = "Running the scheduled jobs of this SQLite database ({LockFile})")]
    private partial void LogRunning(string lockFile);
}
