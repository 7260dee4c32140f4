namespace WebhooksApi.Features.Logs.List;

/// <summary>Merging pages that were each read newest first (by id) into one.</summary>
internal static class NewestFirst
{
    /// <summary>
    /// The first <paramref name="count"/> rows of all <paramref name="pages"/> together, newest
    /// (highest id) first. Each page must hold its own first <paramref name="count"/> rows (or
    /// all it has): then no row beyond them can rank among the merged first ones.
    /// </summary>
    public static List<T> Merge<T>(IEnumerable<IReadOnlyList<T>> pages, Func<T, Guid> id, int count) =>
        pages.SelectMany(p => p).OrderByDescending(id).Take(count).ToList();
}
