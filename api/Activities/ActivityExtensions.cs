using WebhooksApi.Schemas;

namespace WebhooksApi.Activities;

internal static class ActivityExtensions
{
    public static WebApplicationBuilder AddActivityFeed(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<ActivityOptions>(builder.Configuration.GetSection(ActivityOptions.Section));
        builder.Services.AddSingleton<SchemaRegistry>();
        builder.Services.AddSingleton<ActivityFeed>();
        return builder;
    }
}
