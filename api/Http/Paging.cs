using System.Buffers.Text;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Persistence;

namespace WebhooksApi.Http;

/// <summary>A page of a list: <c>nextCursor</c> is absent on the last page.</summary>
internal sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>Keyset pagination over time-ordered ids: stable while new rows arrive.</summary>
internal readonly record struct PageRequest(int Limit, Guid? After)
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;

    public static bool TryCreate(int? limit, string? cursor, out PageRequest page, out ProblemHttpResult? problem)
    {
        page = default;
        problem = null;
        var size = limit ?? DefaultLimit;
        if (size is < 1 or > MaxLimit)
        {
            problem = Problems.Validation("limit", $"limit must be between 1 and {MaxLimit}.");
            return false;
        }

        Guid? after = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!TryDecode(cursor, out var id))
            {
                problem = Problems.Validation("cursor", "cursor is not a value this API returned as nextCursor.");
                return false;
            }

            after = id;
        }

        page = new PageRequest(size, after);
        return true;
    }

    /// <summary>
    /// Builds the page from up to Limit + 1 rows fetched in list order: the extra row only says
    /// whether there is a next page.
    /// </summary>
    public Page<TOut> ToPage<TRow, TOut>(IReadOnlyList<TRow> rows, Func<TRow, Guid> id, Func<TRow, TOut> map)
    {
        var items = rows.Take(Limit).Select(map).ToList();
        var next = rows.Count > Limit ? Encode(id(rows[Limit - 1])) : null;
        return new Page<TOut>(items, next);
    }

    /// <summary>The page of <paramref name="query"/> after the cursor, newest first (ids are time-ordered).</summary>
    public async Task<Page<TOut>> NewestFirstAsync<TRow, TOut>(IQueryable<TRow> query, Func<TRow, TOut> map, CancellationToken cancellationToken)
        where TRow : class, IEntity
    {
        if (After is { } after)
        {
            query = query.Where(r => r.Id.CompareTo(after) < 0);
        }

        var rows = await query.OrderByDescending(r => r.Id).Take(Limit + 1).ToListAsync(cancellationToken);
        return ToPage(rows, r => r.Id, map);
    }

    /// <summary>The page of <paramref name="query"/> after the cursor, oldest first.</summary>
    public async Task<Page<TOut>> OldestFirstAsync<TRow, TOut>(IQueryable<TRow> query, Func<TRow, TOut> map, CancellationToken cancellationToken)
        where TRow : class, IEntity
    {
        if (After is { } after)
        {
            query = query.Where(r => r.Id.CompareTo(after) > 0);
        }

        var rows = await query.OrderBy(r => r.Id).Take(Limit + 1).ToListAsync(cancellationToken);
        return ToPage(rows, r => r.Id, map);
    }

    public static string Encode(Guid id) => Base64Url.EncodeToString(Encoding.ASCII.GetBytes("v1:" + id.ToString("N")));

    private static bool TryDecode(string cursor, out Guid id)
    {
        id = Guid.Empty;
        if (cursor.Length > 64)
        {
            return false;
        }

        try
        {
            var text = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(cursor));
            return text.StartsWith("v1:", StringComparison.Ordinal) && Guid.TryParseExact(text[3..], "N", out id);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
