using WebhooksApi.Security;

namespace WebhooksApi.Delivery;

internal static class DeliveryExtensions
{
    public static WebApplicationBuilder AddDelivery(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var urlOptions = builder.Configuration.GetSection("Delivery").Get<UrlPolicyOptions>() ?? new UrlPolicyOptions();
        services.AddSingleton(urlOptions);
        services.AddSingleton<IHostResolver, SystemHostResolver>();
        services.AddSingleton<UrlPolicy>();
        services.AddSingleton<SsrfSafeConnect>();
        // One long-lived handler for every webhook: connections are pooled per endpoint and
        // recycled every few minutes (DNS changes), never per request.
        services.AddSingleton(sp => new WebhookSender(new HttpClient(WebhookSender.CreateHandler(sp.GetRequiredService<SsrfSafeConnect>()))
        {
            Timeout = Timeout.InfiniteTimeSpan,
        }));
        services.AddSingleton<RequestComposer>();
        services.AddOptions<DispatcherOptions>()
            .Bind(builder.Configuration.GetSection(DispatcherOptions.Section))
            // Checked at start: a limit a timer cannot take would fail every delivery's render instead.
            .Validate(o => o.TemplateRenderTimeLimit >= TimeSpan.Zero && o.TemplateRenderTimeLimit.TotalMilliseconds <= int.MaxValue, "Delivery:TemplateRenderTimeLimit must be between 00:00:00 and 24.20:31:23.")
            .ValidateOnStart();
        services.AddSingleton<DeliverySignals>();
        services.AddSingleton<DeliveryHandoff>();
        services.AddSingleton<AcceptCommitter>();
        // Idle gates are forgotten by real time, as requests take it, never by a test clock.
        services.AddSingleton(_ => new ConnectionLimiters(TimeProvider.System));
        services.AddSingleton<Dispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<Dispatcher>());
        return builder;
    }
}
