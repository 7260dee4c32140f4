using Microsoft.Data.Sqlite;

namespace WebhooksApi.Persistence;

internal static class SqliteFiles
{
    /// <summary>
    /// Resolves a relative database file against the content root and creates its folder, so
    /// `dotnet run` on a fresh clone works with nothing set up.
    /// </summary>
    public static string Prepare(string connectionString, string contentRoot)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (InMemory(builder))
        {
            return builder.ToString();
        }

        var path = Path.IsPathRooted(builder.DataSource) ? builder.DataSource : Path.GetFullPath(Path.Combine(contentRoot, builder.DataSource));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        builder.DataSource = path;
        // Writers wait for each other instead of failing with SQLITE_BUSY.
        if (builder.DefaultTimeout < 30)
        {
            builder.DefaultTimeout = 30;
        }

        builder.Pooling = true;
        return builder.ToString();
    }

    /// <summary>The database file's full path, or null for an in-memory database.</summary>
    public static string? PathOf(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        return InMemory(builder) ? null : Path.GetFullPath(builder.DataSource);
    }

    private static bool InMemory(SqliteConnectionStringBuilder builder) =>
        builder.Mode == SqliteOpenMode.Memory || string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:";
}
