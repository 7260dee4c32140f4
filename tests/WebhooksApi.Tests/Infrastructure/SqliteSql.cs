using Microsoft.Data.Sqlite;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>One statement on a SQLite file, on a connection of its own, beside the app (tests that look at or plant rows).</summary>
public static class SqliteSql
{
    /// <summary>The first column of the first row, or default when there is none or it is not a <typeparamref name="T"/>.</summary>
    public static async Task<T?> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync() is T value ? value : default;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
