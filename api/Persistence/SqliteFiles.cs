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

    /// <summary>
    /// Opens <paramref name="path"/> with no sharing, which .NET takes as an exclusive lock on the
    /// file (flock on Unix): the kernel drops it when the holder closes it or the process ends,
    /// however it ends. Null while another holder has it (in this process or another).
    /// </summary>
    public static FileStream? TryLock(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static bool InMemory(SqliteConnectionStringBuilder builder) =>
        builder.Mode == SqliteOpenMode.Memory || string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:";
}
