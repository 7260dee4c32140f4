using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using WebhooksApi.Persistence;

namespace WebhooksApi.Security;

internal static class SecurityExtensions
{
    public static WebApplicationBuilder AddSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<OperatorOptions>(builder.Configuration.GetSection(OperatorOptions.Section));
        builder.Services.Configure<BootstrapOptions>(builder.Configuration.GetSection(BootstrapOptions.Section));
        builder.Services.Configure<FailedAuthOptions>(builder.Configuration.GetSection(FailedAuthOptions.Section));
        builder.Services.AddSingleton<FailedAuthLimiter>();
        builder.Services
            .AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        builder.Services.AddScoped<DefaultAccountBootstrapper>();
        builder.Services.AddDataProtection()
            .SetApplicationName("webhooks-api")
            .PersistKeysToDbContext<WebhooksDbContext>();
        builder.Services.AddSingleton<SecretProtector>();
        return builder;
    }

    public static WebApplication UseSecurity(this WebApplication app)
    {
        app.Use(FailedAuthLimiter.Middleware);
        app.UseAuthentication();
        app.UseAuthorization();
        return app;
    }

    /// <summary>Requires an API key holding any of the scopes (admin holds all).</summary>
    public static TBuilder RequireScopes<TBuilder>(this TBuilder builder, params string[] anyOf)
        where TBuilder : IEndpointConventionBuilder =>
        builder
            .RequireAuthorization(policy => policy
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                .RequireAuthenticatedUser()
                .RequireAssertion(context => Scopes.HasAny(context.User, anyOf)))
            .WithMetadata(new OpenApi.ScopesMetadata(anyOf));

    public static async Task BootstrapDefaultAccountAsync(this WebApplication app, CancellationToken cancellationToken = default)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DefaultAccountBootstrapper>().RunAsync(cancellationToken);
    }
}
