using WebhooksApi.Persistence;

namespace WebhooksApi.Tests.Unit;

public sealed class IdsTests
{
    [Fact]
    public void Ids_increase_strictly_even_when_the_clock_stands_still()
    {
        var frozen = new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
        var ids = Enumerable.Range(0, 10_000).Select(_ => Ids.New(frozen)).ToList();
        Assert.Equal(ids, ids.OrderBy(i => i.ToString(), StringComparer.Ordinal));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Equal(7, id.Version));
    }

    [Fact]
    public void Ids_carry_their_creation_time_in_order()
    {
        var early = Ids.New(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var later = Ids.New(new DateTimeOffset(2030, 1, 1, 0, 0, 1, TimeSpan.Zero));
        Assert.True(string.CompareOrdinal(early.ToString(), later.ToString()) < 0);
    }

    [Fact]
    public void An_id_keeps_its_instants_millisecond_after_ids_for_a_later_time()
    {
        // A clock that steps back (or a second fake clock in the same process) must not push ids
        // into a later millisecond: IdBounds.Before relies on it for `to`.
        var now = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero).AddTicks(4321);
        Ids.New(now.AddDays(30));
        var id = Ids.New(now);
        Assert.True(Compare(id, IdBounds.AtOrAfter(now)) >= 0);
        Assert.True(Compare(id, IdBounds.Before(now.AddTicks(1))) < 0);
    }

    [Fact]
    public void Ids_of_one_instant_stay_in_order_when_ids_of_other_instants_come_between()
    {
        var frozen = new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
        var ids = new List<Guid>();
        for (var i = 0; i < 1000; i++)
        {
            ids.Add(Ids.New(frozen));
            Ids.New(frozen.AddHours(i % 2 == 0 ? 5 : -5));
        }

        Assert.Equal(ids, ids.OrderBy(i => i.ToString(), StringComparer.Ordinal));
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    private static int Compare(Guid a, Guid b) => string.CompareOrdinal(a.ToString(), b.ToString());
}
