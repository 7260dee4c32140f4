namespace WebhooksApi.Persistence;

/// <summary>What follows a commit, by <see cref="WalProgress.Committed"/>.</summary>
internal enum CheckpointStep
{
    /// <summary>Nothing: the log is short enough, or a checkpoint is already due.</summary>
    None,

    /// <summary>Wake the checkpointer: <see cref="WalProgress"/>'s mark of new frames is reached.</summary>
    Wake,

    /// <summary>
    /// The checkpointer copied the whole log before this commit: copy the frames committed since,
    /// inline, so that the next write transaction finds every frame copied and starts the log over.
    /// </summary>
    CopyTail,
}

/// <summary>
/// Where SQLite's write-ahead log stands between the commits that grow it and the checkpoints
/// that copy it back into the database file: after each commit, whether the checkpointer is due
/// or the last frames should be copied inline (see <see cref="SqliteCheckpointer"/>'s remarks).
/// Commits report from any connection's thread and checkpoints from the checkpointer's, so every
/// step takes a lock (uncontended: tens of nanoseconds beside a commit's tens of microseconds).
/// </summary>
/// <param name="duePages">New frames after which a checkpoint is due (SQLite's mark is 1,000).</param>
internal sealed class WalProgress(int duePages)
{
    private readonly Lock _lock = new();

    /// <summary>Frames in the log after the last commit reported.</summary>
    private long _frames;

    /// <summary>The log size at which the checkpointer is woken next.</summary>
    private long _wakeAt = duePages;

    private bool _tailDue;

    /// <summary>How many times the log was seen to start over (a commit left fewer frames than the one before).</summary>
    private long _restarts;

    /// <summary>
    /// How many times the log was seen to start over: a checkpoint's result is only used if this
    /// did not change while it ran (see <see cref="Checkpointed"/>).
    /// </summary>
    public long Restarts
    {
        get
        {
            lock (_lock)
            {
                return _restarts;
            }
        }
    }

    /// <summary>A commit left <paramref name="frames"/> frames in the log (SQLite's WAL hook reports it).</summary>
    public CheckpointStep Committed(long frames)
    {
        lock (_lock)
        {
            if (frames < _frames)
            {
                // Only a log that started over shrinks: the last checkpoint's results are of the old one.
                _restarts++;
                _wakeAt = duePages;
                _tailDue = false;
            }

            _frames = frames;
            if (frames >= _wakeAt)
            {
                return CheckpointStep.Wake;
            }

            if (_tailDue)
            {
                _tailDue = false;
                return CheckpointStep.CopyTail;
            }

            return CheckpointStep.None;
        }
    }

    /// <summary>
    /// A checkpoint that started when <see cref="Restarts"/> was <paramref name="restarts"/> found
    /// <paramref name="frames"/> frames in the log and left <paramref name="copied"/> of them copied.
    /// The next one is due <c>duePages</c> frames past the log it found, whether it copied
    /// everything (the next commit then copies the tail) or readers kept it from that (they hold
    /// their frames for a while: trying again at every commit would copy next to nothing each
    /// time, each with an fsync).
    /// </summary>
    public void Checkpointed(long restarts, long frames, long copied)
    {
        lock (_lock)
        {
            if (restarts != _restarts)
            {
                return;
            }

            _tailDue = copied == frames && frames > 0;
            _wakeAt = frames + duePages;
        }
    }
}
