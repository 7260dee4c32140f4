using System.Reflection;

namespace WebhooksApi.Features;

/// <summary>One HTTP operation: a class per endpoint, in the folder its URL names.</summary>
internal interface IEndpoint
{
    static abstract void Map(IEndpointRouteBuilder app);
}

internal static class FeatureMapping
{
    /// <summary>Maps every <see cref="IEndpoint"/> in the assembly, in a stable order so the OpenAPI document is too.</summary>
    public static WebApplication MapFeatures(this WebApplication app)
    {
        var endpoints = typeof(FeatureMapping).Assembly.GetTypes()
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IEndpoint).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (var type in endpoints)
        {
            var map = type.GetMethod(nameof(IEndpoint.Map), BindingFlags.Public | BindingFlags.Static)
                ?? throw new InvalidOperationException($"{type} does not implement Map.");
            map.Invoke(null, [app]);
        }

        return app;
    }
}
