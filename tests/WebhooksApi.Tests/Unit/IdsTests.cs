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
}
