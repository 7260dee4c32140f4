using Microsoft.Data.Sqlite;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.Persistence;

/// <summary>
/// A node that stopped holds none of its SQLite files open. HotQueries, handed to the container
/// as a ready instance, was never disposed: its prepared connections kept the database open after
/// the host stopped (the benchmark process held 19 deleted database files by its third run).
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class StoppedNodeFilesTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    [SkippableFact]
    public async Task A_stopped_node_keeps_none_of_its_database_files_open()
    {
        SkipIfUnavailable();
        Skip.IfNot(OperatingSystem.IsLinux(), "reads the process's open files from /proc/self/fd");
        var node = await PrivateNode.StartAsync(Fixture);
        var database = new SqliteConnectionStringBuilder(node.ConnectionString).DataSource;
        // Authenticated calls read the key, and a listing its data, on HotQueries' prepared connections.
        (await node.Admin.GetAsync(new Uri("/v1/connections", UriKind.Relative))).EnsureSuccessStatusCode();
        Assert.NotEmpty(OpenFilesOf(database));

        await node.DisposeAsync();
        // Connections closed by their owners go back to Microsoft.Data.Sqlite's pool; what the
        // pool keeps idle is closed here. What an owner never closed stays open.
        SqliteConnection.ClearAllPools();

        Assert.Empty(OpenFilesOf(database));
    }

    private static List<string> OpenFilesOf(string database) =>
        [.. Directory.GetFiles("/proc/self/fd")
            .Select(fd =>
            {
                try
                {
                    return File.ResolveLinkTarget(fd, returnFinalTarget: false)?.FullName;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return null; // closed while listed
                }
            })
            .OfType<string>()
            .Where(target => target.StartsWith(database, StringComparison.Ordinal))];
}
