using Microsoft.Data.Sqlite;
using Quartz;
using WebhooksApi.Activities;
using WebhooksApi.Delivery;
using WebhooksApi.Persistence;

namespace WebhooksApi.Jobs;

internal static class SchedulingExtensions
{
    /// <summary>
    /// Quartz keeps its schedule in the app's own database (tables created on first start), so
    /// PostgreSQL nodes share one clustered scheduler and a job never runs twice at once; on
    /// SQLite one process per database file runs it (<see cref="SqliteSchedulerLease"/>). Due
    /// work itself lives in the deliveries table; jobs only decide when to look at it.
    /// </summary>
    public static WebApplicationBuilder AddScheduling(this WebApplicationBuilder builder)
    {
        var database = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        var connectionString = builder.Configuration.GetConnectionString("Webhooks") ?? PersistenceExtensions.DefaultSqliteConnectionString;
        if (!database.IsPostgres)
        {
            connectionString = SqliteFiles.Prepare(connectionString, builder.Environment.ContentRootPath);
        }

        var health = builder.Configuration.GetSection(HealthOptions.Section).Get<HealthOptions>() ?? new HealthOptions();
        builder.Services.Configure<HealthOptions>(builder.Configuration.GetSection(HealthOptions.Section));
        builder.Services.AddSingleton<HealthMonitor>();
        var activity = builder.Configuration.GetSection(ActivityOptions.Section).Get<ActivityOptions>() ?? new ActivityOptions();
        var logs = builder.Configuration.GetSection(LogsOptions.Section).Get<LogsOptions>() ?? new LogsOptions();
        builder.Services.Configure<LogsOptions>(builder.Configuration.GetSection(LogsOptions.Section));
        builder.Services.AddSingleton<LogRetention>();
        builder.Services.AddQuartz(quartz =>
        {
            quartz.ConfigureScheduler(scheduler =>
            {
                scheduler.InstanceName = "webhooks";
                // Clustered nodes need distinct ids.
                scheduler.GenerateInstanceId = true;
            });
            // Schedules run on wall-clock time; the jobs decide with the app's TimeProvider.
            quartz.UseTimeProvider(TimeProvider.System);
            quartz.UseDefaultThreadPool(4);
            quartz.UsePersistentStore(store =>
            {
                store.UseSystemTextJsonSerializer();
                store.ProvisionSchema();
                if (database.IsPostgres)
                {
                    store.UsePostgres(connectionString);
                    store.UseClustering();
                }
                else
                {
                    store.UseSqlite(new SqliteConnectionStringBuilder(connectionString).ToString());
                }
            });

            quartz.AddJob<HealthCheckJob>(job => job.WithIdentity(HealthCheckJob.Key).StoreDurably());
            quartz.AddTrigger(trigger => trigger
                .ForJob(HealthCheckJob.Key)
                .WithIdentity("health-check-schedule", "delivery")
                .StartNow()
                .WithSimpleSchedule(s => s.WithInterval(health.CheckInterval).RepeatForever()));

            quartz.AddJob<ActivityFlushJob>(job => job.WithIdentity(ActivityFlushJob.Key).StoreDurably());
            quartz.AddTrigger(trigger => trigger
                .ForJob(ActivityFlushJob.Key)
                .WithIdentity("activity-flush-schedule", "activity")
                .StartNow()
                .WithSimpleSchedule(s => s.WithInterval(activity.FlushInterval).RepeatForever()));
            quartz.AddJob<LogRetentionJob>(job => job.WithIdentity(LogRetentionJob.Key).StoreDurably());
            quartz.AddTrigger(trigger => trigger
                .ForJob(LogRetentionJob.Key)
                .WithIdentity("log-retention-schedule", "maintenance")
                .StartNow()
                .WithSimpleSchedule(s => s.WithInterval(logs.PurgeInterval).RepeatForever()));
        });
        if (database.IsPostgres || SqliteFiles.PathOf(connectionString) is not { } file)
        {
            builder.Services.AddQuartzHostedService(options => options.WaitForJobsToComplete = true);
        }
        else
        {
            builder.Services.AddSingleton(services => new SqliteSchedulerLease(
                services.GetRequiredService<ISchedulerFactory>(), file + ".scheduler", services.GetRequiredService<ILogger<SqliteSchedulerLease>>()));
            builder.Services.AddHostedService(services => services.GetRequiredService<SqliteSchedulerLease>());
        }

        return builder;
    }
}
