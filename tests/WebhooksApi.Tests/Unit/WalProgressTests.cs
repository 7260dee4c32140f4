using WebhooksApi.Persistence;

namespace WebhooksApi.Tests.Unit;

/// <summary>
/// After each commit, whether SQLite's write-ahead log needs the checkpointer, the last frames
/// copied inline so the log can start over, or nothing (SqliteCheckpointer's remarks). Frames
/// are what SQLite's WAL hook reports: the log's length after the commit.
/// </summary>
public sealed class WalProgressTests
{
    private const int Due = 1_000;

    private readonly WalProgress _progress = new(Due);

    [Fact]
    public void The_checkpointer_is_woken_once_the_log_reaches_the_mark_and_until_a_checkpoint_reports()
    {
        Assert.Equal(CheckpointStep.None, _progress.Committed(10));
        Assert.Equal(CheckpointStep.None, _progress.Committed(999));
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(1_000));
        // Still running: waking it again is harmless (it is woken at most once).
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(1_020));
    }

    [Fact]
    public void After_a_checkpoint_that_copied_everything_the_next_commit_copies_the_tail_once()
    {
        CheckpointAfterTheMark(frames: 1_010, copied: 1_010);

        Assert.Equal(CheckpointStep.CopyTail, _progress.Committed(1_030));
        Assert.Equal(CheckpointStep.None, _progress.Committed(1_050));
    }

    [Fact]
    public void Once_the_log_starts_over_it_counts_from_its_beginning_again()
    {
        CheckpointAfterTheMark(frames: 1_010, copied: 1_010);
        _progress.Committed(1_030);

        // The transaction after the tail found every frame copied: SQLite wrote from the start.
        Assert.Equal(CheckpointStep.None, _progress.Committed(20));
        Assert.Equal(1, _progress.Restarts);
        Assert.Equal(CheckpointStep.None, _progress.Committed(999));
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(1_001));
    }

    [Fact]
    public void A_log_that_did_not_start_over_is_checkpointed_again_a_mark_later()
    {
        CheckpointAfterTheMark(frames: 1_000, copied: 1_000);
        Assert.Equal(CheckpointStep.CopyTail, _progress.Committed(1_040));

        // A reader held frames of the old log: SQLite appended instead of starting over.
        Assert.Equal(CheckpointStep.None, _progress.Committed(1_080));
        Assert.Equal(CheckpointStep.None, _progress.Committed(1_999));
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(2_000));
        Assert.Equal(0, _progress.Restarts);
    }

    [Fact]
    public void A_checkpoint_readers_kept_from_copying_everything_is_tried_again_a_mark_later_without_a_tail()
    {
        CheckpointAfterTheMark(frames: 1_000, copied: 400);

        // Not at every commit: each would copy next to nothing, with an fsync.
        Assert.Equal(CheckpointStep.None, _progress.Committed(1_010));
        Assert.Equal(CheckpointStep.None, _progress.Committed(1_999));
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(2_000));
    }

    [Fact]
    public void A_checkpoint_of_a_log_that_started_over_while_it_ran_is_ignored()
    {
        _progress.Committed(1_000);
        var restarts = _progress.Restarts;
        // The log started over before the checkpoint reported (another path copied it all).
        _progress.Committed(5);
        _progress.Checkpointed(restarts, frames: 1_000, copied: 1_000);

        // Neither a tail for the new log nor a mark moved past it.
        Assert.Equal(CheckpointStep.None, _progress.Committed(30));
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(1_000));
    }

    /// <summary>A commit reaches the mark, and the checkpoint it woke finds <paramref name="frames"/> and copies <paramref name="copied"/>.</summary>
    private void CheckpointAfterTheMark(long frames, long copied)
    {
        Assert.Equal(CheckpointStep.Wake, _progress.Committed(1_000));
        _progress.Checkpointed(_progress.Restarts, frames, copied);
    }
}
