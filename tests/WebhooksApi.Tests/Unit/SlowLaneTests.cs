using Microsoft.Extensions.Time.Testing;
using WebhooksApi.Delivery;

namespace WebhooksApi.Tests.Unit;

public sealed class SlowLaneTests
{
    private static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(100);

    /// <summary>The node's slots: slow rows may hold all but a lane's worth while nothing responsive is busy (56 beside a lane of 8).</summary>
    private const int InFlight = 64;

    private static readonly Guid Fast = Guid.NewGuid();

    private static readonly Guid Slow = Guid.NewGuid();

    private readonly FakeTimeProvider _time = new();

    /// <summary>A lane of <paramref name="slots"/> where <see cref="Slow"/> answered in 200 ms and <see cref="Fast"/> in 5 ms.</summary>
    private SlowLane Lane(int slots)
    {
        var lane = new SlowLane(slots, InFlight, Threshold, _time);
        lane.Observe(Slow, 200);
        lane.Observe(Fast, 5);
        return lane;
    }

    [Fact]
    public void A_connection_never_measured_is_responsive_and_its_first_answer_sets_the_average()
    {
        var lane = new SlowLane(8, InFlight, Threshold, _time);
        Assert.False(lane.IsSlow(Slow));
        Assert.Null(lane.AverageMs(Slow));

        Assert.False(lane.IsMeasured(Slow));

        Assert.True(lane.Observe(Slow, 250));

        Assert.Equal(250, lane.AverageMs(Slow));
        Assert.True(lane.IsSlow(Slow));
        Assert.True(lane.IsMeasured(Slow));
        // Only the first answer says so: the dispatcher claims again for a connection it held back until then.
        Assert.False(lane.Observe(Slow, 250));
    }

    [Fact]
    public void A_forgotten_connection_is_not_measured_again_until_its_next_answer()
    {
        var lane = Lane(8);
        _time.Advance(TimeSpan.FromMinutes(10));
        lane.Forget(TimeSpan.FromMinutes(10));

        Assert.False(lane.IsMeasured(Fast));
        Assert.True(lane.Observe(Fast, 5));
        Assert.True(lane.IsMeasured(Fast));
    }

    [Fact]
    public void A_row_that_sent_nothing_measures_a_new_connection_fast_and_leaves_a_known_average_alone()
    {
        var lane = Lane(8);
        var broken = Guid.NewGuid();

        Assert.True(lane.NotSent(broken));
        Assert.True(lane.IsFast(broken));
        Assert.Equal(0, lane.AverageMs(broken));
        Assert.False(lane.NotSent(broken));

        // A slow endpoint whose template failed for one contact is still as slow as its answers.
        Assert.False(lane.NotSent(Slow));
        Assert.Equal(200, lane.AverageMs(Slow));
        Assert.True(lane.IsSlow(Slow));
    }

    [Fact]
    public void The_average_moves_a_fifth_of_the_way_to_each_new_answer()
    {
        var lane = new SlowLane(8, InFlight, Threshold, _time);
        lane.Observe(Slow, 200);
        lane.Observe(Slow, 0);
        Assert.Equal(160, lane.AverageMs(Slow)!.Value, 6);
        lane.Observe(Slow, 0);
        Assert.Equal(128, lane.AverageMs(Slow)!.Value, 6);
        // One quick answer does not make an endpoint that is usually slow responsive...
        Assert.True(lane.IsSlow(Slow));
        lane.Observe(Slow, 0);
        lane.Observe(Slow, 0);
        // ...a run of them does (128 -> 102.4 -> 81.92).
        Assert.False(lane.IsSlow(Slow));
    }

    [Theory]
    [InlineData(99, false)]
    [InlineData(100, true)]
    [InlineData(101, true)]
    public void Slow_means_an_average_at_or_above_the_threshold(int ms, bool slow)
    {
        var lane = new SlowLane(8, InFlight, Threshold, _time);
        lane.Observe(Slow, ms);
        Assert.Equal(slow, lane.IsSlow(Slow));
    }

    [Fact]
    public void Without_a_busy_responsive_connection_slow_ones_may_take_every_slot_but_the_reserve()
    {
        var lane = Lane(8);
        Assert.Equal(56, lane.Ceiling);
        for (var i = 0; i < 40; i++)
        {
            Assert.True(lane.Claimed(Slow));
        }

        Assert.False(lane.ResponsiveBusy);
        var plan = lane.Plan();
        Assert.Empty(plan.Excluded);
        Assert.Equal(16, plan.MaxRows);

        for (var i = 0; i < 16; i++)
        {
            lane.Claimed(Slow);
        }

        // At the ceiling the slow ones are left out; a responsive connection's work is not.
        Assert.Equal(new[] { Slow }, lane.Plan().Excluded);
        Assert.Null(lane.Plan().MaxRows);
    }

    [Fact]
    public void Below_the_ceiling_by_a_quarter_of_the_lane_a_finishing_slow_row_wakes_a_claim()
    {
        var lane = Lane(8);
        for (var i = 0; i < 56; i++)
        {
            lane.Claimed(Slow);
        }

        // 56 -> 55 is not yet room for a claim worth making (a quarter of the lane: 2 rows)...
        Assert.False(lane.Finished(Slow, slow: true));
        Assert.Equal(new[] { Slow }, lane.Plan().Excluded);
        // ...55 -> 54 is: the finish says so, and the plan lets the slow ones in again.
        Assert.True(lane.Finished(Slow, slow: true));
        Assert.Empty(lane.Plan().Excluded);
        Assert.Equal(2, lane.Plan().MaxRows);
    }

    [Fact]
    public void A_node_too_small_for_a_reserve_still_gives_slow_ones_the_lane()
    {
        var lane = new SlowLane(8, 10, Threshold, _time);
        Assert.Equal(8, lane.Ceiling);
    }

    [Fact]
    public void With_no_slow_connection_a_busy_node_claims_without_a_cap()
    {
        var lane = new SlowLane(8, InFlight, Threshold, _time);
        lane.Observe(Fast, 5);
        lane.Claimed(Fast);

        Assert.True(lane.ResponsiveBusy);
        Assert.Same(LanePlan.Unlimited, lane.Plan());
    }

    [Fact]
    public void While_a_responsive_connection_is_busy_a_claim_may_take_at_most_the_room_left()
    {
        var lane = Lane(8);
        Assert.False(lane.Claimed(Fast));
        Assert.True(lane.ResponsiveBusy);
        lane.Claimed(Slow);
        lane.Claimed(Slow);
        lane.Claimed(Slow);

        var plan = lane.Plan();

        Assert.Empty(plan.Excluded);
        Assert.Equal(5, plan.MaxRows);
    }

    [Fact]
    public void A_full_lane_leaves_every_slow_connection_out_of_the_claim_and_no_responsive_one()
    {
        var lane = Lane(8);
        var otherSlow = Guid.NewGuid();
        lane.Observe(otherSlow, 1_000);
        lane.Claimed(Fast);
        for (var i = 0; i < 8; i++)
        {
            lane.Claimed(Slow);
        }

        var plan = lane.Plan();

        Assert.Equal(new[] { Slow, otherSlow }.Order(), plan.Excluded.Order());
        Assert.Null(plan.MaxRows);
    }

    [Fact]
    public void A_lane_with_less_than_a_quarter_free_stays_closed_until_a_quarter_is_free()
    {
        var lane = Lane(8);
        lane.Claimed(Fast);
        var lanes = Enumerable.Range(0, 8).Select(_ => lane.Claimed(Slow)).ToList();

        // 1 free of 8: still closed, and no wake-up for it.
        Assert.False(lane.Finished(Slow, lanes[0]));
        Assert.Contains(Slow, lane.Plan().Excluded);

        // 2 free of 8 (a quarter): open again, and the finish that opened it asks for a claim.
        Assert.True(lane.Finished(Slow, lanes[1]));
        var plan = lane.Plan();
        Assert.Empty(plan.Excluded);
        Assert.Equal(2, plan.MaxRows);
    }

    [Fact]
    public void With_no_connection_slow_the_last_responsive_row_finishing_wakes_no_claim()
    {
        var lane = new SlowLane(4, 64, Threshold, _time);
        var fast = lane.Claimed(Fast);
        lane.Observe(Fast, 5);

        // Nothing was held back by the cap, so there is nothing for an early claim to take.
        Assert.False(lane.Finished(Fast, fast));

        fast = lane.Claimed(Fast);
        lane.Observe(Slow, (int)Threshold.TotalMilliseconds * 2);
        Assert.True(lane.Finished(Fast, fast));
    }

    [Fact]
    public void When_the_last_responsive_row_finishes_the_cap_stays_one_threshold_then_goes()
    {
        var lane = Lane(4);
        var fast = lane.Claimed(Fast);
        for (var i = 0; i < 4; i++)
        {
            lane.Claimed(Slow);
        }

        Assert.NotEmpty(lane.Plan().Excluded);
        Assert.True(lane.Finished(Fast, fast));

        // A responsive endpoint drains its claimed rows faster than the next claim comes: for a
        // threshold it still counts as busy, or slow ones would go uncapped between its claims.
        _time.Advance(Threshold - TimeSpan.FromMilliseconds(1));
        Assert.True(lane.ResponsiveBusy);
        Assert.NotEmpty(lane.Plan().Excluded);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(lane.ResponsiveBusy);
        // The lane's cap is gone; what is left is the ceiling (64 slots but a lane of 4: 60, 4 of them held).
        var plan = lane.Plan();
        Assert.Empty(plan.Excluded);
        Assert.Equal(lane.Ceiling - 4, plan.MaxRows);
    }

    [Fact]
    public void A_responsive_row_claimed_during_the_linger_keeps_the_connection_busy_past_it()
    {
        var lane = Lane(4);
        lane.Finished(Fast, lane.Claimed(Fast));
        var again = lane.Claimed(Fast);

        _time.Advance(Threshold * 10);

        Assert.True(lane.ResponsiveBusy);
        Assert.True(lane.Finished(Fast, again));
        _time.Advance(Threshold);
        Assert.False(lane.ResponsiveBusy);
    }

    [Fact]
    public void A_row_leaves_the_lane_it_was_claimed_in_even_when_its_connection_changed_lanes_meanwhile()
    {
        var lane = Lane(4);
        lane.Claimed(Fast);
        var wasSlow = lane.Claimed(Slow);
        for (var i = 0; i < 10; i++)
        {
            lane.Observe(Slow, 1);
        }

        Assert.False(lane.IsSlow(Slow));
        lane.Finished(Slow, wasSlow);

        Assert.Equal(0, lane.SlowClaimed);
        Assert.True(lane.ResponsiveBusy);
    }

    [Fact]
    public void An_average_without_an_answer_for_the_idle_window_is_forgotten_and_its_connection_is_responsive_again()
    {
        var lane = Lane(4);
        var quiet = Guid.NewGuid();
        lane.Observe(quiet, 300);
        _time.Advance(TimeSpan.FromMinutes(9));
        lane.Observe(Slow, 200);

        Assert.Equal(0, lane.Forget(TimeSpan.FromMinutes(10)));
        _time.Advance(TimeSpan.FromMinutes(1));
        var forgotten = lane.Forget(TimeSpan.FromMinutes(10));

        // Fast and quiet had their last answers 10 minutes ago; Slow answered a minute ago.
        Assert.Equal(2, forgotten);
        Assert.Equal(1, lane.Measured);
        Assert.Null(lane.AverageMs(quiet));
        Assert.False(lane.IsSlow(quiet));
        Assert.Equal([Slow], lane.SlowConnections());
    }

    [Fact]
    public void A_row_claimed_slow_still_leaves_the_slow_lane_after_its_connection_was_forgotten()
    {
        var lane = Lane(4);
        var wasSlow = lane.Claimed(Slow);
        _time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(2, lane.Forget(TimeSpan.FromMinutes(10)));
        Assert.False(lane.IsSlow(Slow));
        Assert.Equal(1, lane.SlowClaimed);
        lane.Finished(Slow, wasSlow);

        Assert.Equal(0, lane.SlowClaimed);
    }

    [Fact]
    public void Turns_take_the_waiting_connections_in_order_wrapping_around_so_each_gets_its_turn()
    {
        var lane = Lane(4);
        Guid[] waiting = [.. Enumerable.Range(0, 5).Select(_ => Guid.NewGuid())];

        var first = lane.NextTurn(waiting, 2);
        var second = lane.NextTurn(waiting, 2);
        var third = lane.NextTurn(waiting, 2);

        Assert.Equal([waiting[0], waiting[1]], first);
        Assert.Equal([waiting[2], waiting[3]], second);
        Assert.Equal([waiting[4], waiting[0]], third);
        Assert.Equal([waiting[1], waiting[2], waiting[3]], lane.NextTurn(waiting, 3));
    }

    [Fact]
    public void A_turn_as_large_as_the_waiting_list_is_the_whole_list_and_leaves_the_next_turn_where_it_was()
    {
        var lane = Lane(4);
        Guid[] waiting = [.. Enumerable.Range(0, 3).Select(_ => Guid.NewGuid())];
        Assert.Equal([waiting[0]], lane.NextTurn(waiting, 1));

        Assert.Same(waiting, lane.NextTurn(waiting, 3));
        Assert.Same(waiting, lane.NextTurn(waiting, 10));

        Assert.Equal([waiting[1]], lane.NextTurn(waiting, 1));
    }

    [Fact]
    public void A_shorter_waiting_list_than_the_last_turn_expected_still_starts_inside_it()
    {
        var lane = Lane(4);
        Guid[] many = [.. Enumerable.Range(0, 10).Select(_ => Guid.NewGuid())];
        lane.NextTurn(many, 8);
        Guid[] fewer = [.. Enumerable.Range(0, 3).Select(_ => Guid.NewGuid())];

        // The turn stood at 8; 8 % 3 = 2.
        Assert.Equal([fewer[2], fewer[0]], lane.NextTurn(fewer, 2));
    }

    [Fact]
    public void Connections_found_with_nothing_due_are_left_out_until_the_recheck_interval_passes()
    {
        var lane = new SlowLane(8, InFlight, Threshold, _time, TimeSpan.FromSeconds(1));
        Guid[] slow = [.. Enumerable.Range(0, 4).Select(_ => Guid.NewGuid())];
        Assert.Equal(slow, lane.Waiting(slow, workEpoch: 7));

        lane.NothingDue([slow[1], slow[3]], workEpoch: 7);
        Assert.Equal([slow[0], slow[2]], lane.Waiting(slow, workEpoch: 7));

        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal([slow[0], slow[2]], lane.Waiting(slow, workEpoch: 7));

        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(slow, lane.Waiting(slow, workEpoch: 7));
    }

    [Fact]
    public void New_work_on_the_node_brings_every_connection_found_with_nothing_due_back_at_once()
    {
        var lane = Lane(8);
        Guid[] slow = [.. Enumerable.Range(0, 3).Select(_ => Guid.NewGuid())];
        lane.NothingDue(slow, workEpoch: 1);
        Assert.Empty(lane.Waiting(slow, workEpoch: 1));

        Assert.Equal(slow, lane.Waiting(slow, workEpoch: 2));
    }

    [Fact]
    public void Finding_nothing_due_under_an_epoch_that_has_moved_since_is_forgotten_at_the_next_look()
    {
        // The claim read the epoch, new work was committed, then the claim found nothing: the
        // new rows may have come after its read, so its finding must not outlive the new epoch.
        var lane = Lane(8);
        Guid[] slow = [Guid.NewGuid()];
        Assert.Equal(slow, lane.Waiting(slow, workEpoch: 4));
        lane.NothingDue(slow, workEpoch: 4);

        Assert.Equal(slow, lane.Waiting(slow, workEpoch: 5));
    }

    [Fact]
    public void A_row_of_a_connection_finishing_here_brings_that_connection_back()
    {
        var lane = Lane(8);
        Guid[] slow = [Guid.NewGuid(), Guid.NewGuid()];
        lane.NothingDue(slow, workEpoch: 0);

        lane.Finished(slow[0], lane.Claimed(slow[0]));

        Assert.Equal([slow[0]], lane.Waiting(slow, workEpoch: 0));
    }
}
