using WebhooksApi.Features.Logs.List;
using WebhooksApi.Features.Stats;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Tests.Unit;

/// <summary>The pure parts behind the log, delivery and stats queries.</summary>
public sealed class LogQueryTests
{
    private static int Compare(Guid a, Guid b) => string.CompareOrdinal(a.ToString(), b.ToString());

    [Fact]
    public void An_id_made_at_or_after_an_instant_is_never_below_its_bound()
    {
        var start = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        foreach (var offset in (TimeSpan[])[TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(3)])
        {
            Assert.True(Compare(Ids.New(start + offset), IdBounds.AtOrAfter(start)) >= 0);
        }

        // The bound of a later millisecond is above every id of an earlier one that was not pushed ahead.
        Assert.True(Compare(Guid.CreateVersion7(start), IdBounds.AtOrAfter(start.AddMilliseconds(1))) < 0);
        Assert.True(Compare(IdBounds.AtOrAfter(start), IdBounds.AtOrAfter(start.AddMilliseconds(1))) < 0);
        // Other offsets are the same instant.
        Assert.Equal(IdBounds.AtOrAfter(start), IdBounds.AtOrAfter(start.ToOffset(TimeSpan.FromHours(-5))));
    }

    [Fact]
    public void An_id_made_before_an_instant_is_always_below_its_upper_bound()
    {
        var onTheMillisecond = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        var inside = onTheMillisecond.AddTicks(4567);
        foreach (var to in (DateTimeOffset[])[onTheMillisecond, inside])
        {
            foreach (var offset in (TimeSpan[])[TimeSpan.FromTicks(1), TimeSpan.FromTicks(10), TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(3)])
            {
                Assert.True(Compare(Ids.New(to - offset), IdBounds.Before(to)) < 0, $"{to:O} - {offset}");
            }
        }

        // On a millisecond's start, that millisecond's ids (made at or after it) are above the bound.
        Assert.True(Compare(Ids.New(onTheMillisecond), IdBounds.Before(onTheMillisecond)) >= 0);
        Assert.Equal(IdBounds.AtOrAfter(onTheMillisecond), IdBounds.Before(onTheMillisecond));
        // Inside one, the bound is the next millisecond's: the row's time decides the rest.
        Assert.Equal(IdBounds.AtOrAfter(onTheMillisecond.AddMilliseconds(1)), IdBounds.Before(inside));
        Assert.Equal(IdBounds.Before(inside), IdBounds.Before(inside.ToOffset(TimeSpan.FromHours(9))));
    }

    [Fact]
    public void Pages_read_newest_first_merge_into_the_first_rows_of_all()
    {
        var ids = Enumerable.Range(0, 12).Select(i => Ids.New(new DateTimeOffset(2026, 11, 23, 10, 0, i, TimeSpan.Zero))).ToList();
        // Three codes' pages, each newest first and cut at three rows, as the class query reads them.
        IReadOnlyList<Guid>[] pages = [[ids[11], ids[8], ids[2]], [ids[10], ids[9], ids[7]], [ids[5]]];

        Assert.Equal([ids[11], ids[10], ids[9]], NewestFirst.Merge(pages, id => id, 3));
        Assert.Equal([ids[11], ids[10], ids[9], ids[8], ids[7], ids[5], ids[2]], NewestFirst.Merge(pages, id => id, 10));
        Assert.Empty(NewestFirst.Merge<Guid>([], id => id, 3));
    }

    [Theory]
    [InlineData("404", 404, 405)]
    [InlineData("100", 100, 101)]
    [InlineData("599", 599, 600)]
    [InlineData("5xx", 500, 600)]
    [InlineData("2XX", 200, 300)]
    [InlineData("1xx", 100, 200)]
    public void A_status_code_filter_is_one_code_or_a_class(string value, int low, int high)
    {
        var errors = new ValidationErrors();
        var filter = StatusCodeFilter.Parse(errors, value);
        Assert.False(errors.Any);
        Assert.Equal(new StatusCodeFilter(low, high), filter);
        Assert.Equal(high == low + 1, filter!.Value.Exact is not null);
    }

    [Theory]
    [InlineData("6xx")]
    [InlineData("0xx")]
    [InlineData("99")]
    [InlineData("600")]
    [InlineData("40x")]
    [InlineData("+404")]
    [InlineData("4 4")]
    [InlineData("")]
    public void Anything_else_is_an_error_on_statusCode(string value)
    {
        var errors = new ValidationErrors();
        Assert.Null(StatusCodeFilter.Parse(errors, value));
        Assert.True(errors.ToDictionary().ContainsKey("statusCode"));
    }

    [Fact]
    public void Percentiles_use_the_nearest_rank()
    {
        var sorted = Enumerable.Range(1, 100).ToList();
        Assert.Equal(50, DeliveryStats.Percentile(sorted, 50));
        Assert.Equal(95, DeliveryStats.Percentile(sorted, 95));
        Assert.Equal(99, DeliveryStats.Percentile(sorted, 99));
        Assert.Equal(7, DeliveryStats.Percentile([7], 99));
        Assert.Equal(20, DeliveryStats.Percentile([10, 20, 30], 50));
        Assert.Null(DeliveryStats.Percentile([], 50));
    }

    [Fact]
    public void Buckets_are_whole_utc_hours_or_days_covering_the_range()
    {
        var from = new DateTimeOffset(2026, 11, 23, 10, 30, 0, TimeSpan.Zero);
        var hourly = new StatsRange(from, from.AddHours(2), StatsBucket.Hour);
        Assert.Equal(3, hourly.LastBucket - hourly.FirstBucket + 1);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero), hourly.BucketStart(hourly.FirstBucket));

        // `to` is exclusive: a range ending on the hour does not reach into the next bucket.
        var exact = new StatsRange(from.AddMinutes(-30), from.AddMinutes(30), StatsBucket.Hour);
        Assert.Equal(1, exact.LastBucket - exact.FirstBucket + 1);

        var daily = new StatsRange(from, from.AddDays(1), StatsBucket.Day);
        Assert.Equal(2, daily.LastBucket - daily.FirstBucket + 1);
        Assert.Equal(new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero), daily.BucketStart(daily.LastBucket));
    }
}
