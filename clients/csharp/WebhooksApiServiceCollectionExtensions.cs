using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace WebhooksApi.Client;

/// <summary>Registers the Webhooks API clients with dependency injection.</summary>
public static class WebhooksApiServiceCollectionExtensions
{
    private const string HttpClientName = "WebhooksApi.Client";

    // Every generated client derives from WebhooksApiClientBase (see client.nswag), so a tag
    // added to the API is registered without touching this file.
    private static readonly Type[] ClientTypes = typeof(WebhooksApiClientBase).Assembly.GetExportedTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false } && t.IsSubclassOf(typeof(WebhooksApiClientBase)))
        .ToArray();

    /// <summary>
    /// Registers every client (<see cref="ConnectionsClient"/>, <see cref="IConnectionsClient"/> ...)
    /// as transient, each on an <see cref="HttpClient"/> from <see cref="IHttpClientFactory"/> that
    /// targets <paramref name="baseUrl"/> and sends <paramref name="apiKey"/> as a bearer token.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="baseUrl">Where the API is, e.g. <c>https://webhooks.example.com/</c>.</param>
    /// <param name="apiKey">An API key (<c>whk_...</c>) with the scopes the calls need.</param>
    /// <returns>The named HTTP client's builder, to add handlers (resilience, logging) to.</returns>
    public static IHttpClientBuilder AddWebhooksApiClient(this IServiceCollection services, Uri baseUrl, string apiKey)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(baseUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        if (!baseUrl.IsAbsoluteUri)
        {
            throw new ArgumentException("The base URL must be absolute.", nameof(baseUrl));
        }

        // The generated clients send relative paths ("v1/connections"); without a trailing slash
        // a base path (https://host/webhooks) would be replaced instead of extended.
        var baseAddress = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        var builder = services.AddHttpClient(HttpClientName, http =>
        {
            http.BaseAddress = baseAddress;
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        });

        foreach (var client in ClientTypes)
        {
            services.TryAddTransient(client, sp =>
                Activator.CreateInstance(client, sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName))!);
            if (client.GetInterface("I" + client.Name) is { } contract)
            {
                services.TryAddTransient(contract, sp => sp.GetRequiredService(client));
            }
        }

        return builder;
    }
}
