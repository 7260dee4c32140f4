using System.Runtime.CompilerServices;

namespace WebhooksApi.Tests.Infrastructure;

internal static class TestEnvironment
{
    /// <summary>
    /// ConnectionStrings__Webhooks names the test PostgreSQL (.ci/run sets it). It is taken here
    /// and removed from the process environment, so the apps under test read only the settings
    /// their fixture gives them (a SQLite fixture must never pick up the PostgreSQL string).
    /// </summary>
    public static string? PostgresConnectionString { get; private set; }

    [ModuleInitializer]
    internal static void Capture()
    {
        PostgresConnectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Webhooks");
        Environment.SetEnvironmentVariable("ConnectionStrings__Webhooks", null);
    }
}
