using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WebhooksApi.Features.Connections;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Delivery;

/// <summary>
/// Moves deliveries: claims due rows in batches, sends each through its connection's limits,
/// and writes results in batched transactions. New executions wake it at once; due retries are
/// found by polling on the injected clock (so tests drive hours of retries in milliseconds).
/// </summary>
internal sealed partial class Dispatcher(
    IDbContextFactory<WebhooksDbContext> dbFactory,
    RequestComposer composer,
    WebhookSender sender,
    DeliverySignals signals,
    ConnectionLimiters limiters,
    AcceptCommitter writes,
    DeliveryHandoff handoff,
    HotQueries reads,
    TimeProvider time,
    IOptions<DispatcherOptions> options,
    ILogger<Dispatcher> logger) : BackgroundService
{
    /// <summary>How long a connection may go without a request before this node forgets its per-connection state.</summary>
    internal static readonly TimeSpan IdleConnectionState = TimeSpan.FromMinutes(10);

    /// <summary>The fewest slow connections one statement of a lane claim reads (see ClaimLaneAsync).</summary>
    private const int LaneTurnMin = 32;

    private readonly DispatcherOptions _options = options.Value;
    private readonly Channel<Completion> _completions = Channel.CreateUnbounded<Completion>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Accepts whose rows were written claimed for this node, waiting to be started (see DeliveryHandoff).</summary>
    private readonly Channel<Reservation> _handedOff = Channel.CreateUnbounded<Reservation>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Held while the per-connection loads are counted up by an accept or forgotten.</summary>
    private readonly Lock _loadGate = new();

    /// <summary>This node's claims (token: rows not yet finished), whose leases it keeps renewing while it lives.</summary>
    private readonly ConcurrentDictionary<Guid, int> _leases = new();
    private readonly ConcurrentDictionary<Guid, ConnectionLoad> _load = new();
    private readonly SlowLane _lane = new(options.Value.SlowLaneSize, options.Value.MaxInFlight, options.Value.SlowResponseThreshold, TimeProvider.System);
    /// <summary>Deliveries this node holds (<see cref="DispatcherOptions.MaxInFlight"/>): taken when a row is claimed or handed over, given back once its result is written.</summary>
    private SemaphoreSlim? _slots;

    /// <summary>
    /// The deliveries held beyond <see cref="_slots"/> (<see cref="DispatcherOptions.ClaimedLimit"/>
    /// less MaxInFlight): only rows of a connection known to answer fast, past its limit plus
    /// queue, handed over by an accept (see Reserve) or claimed (see ClaimDeepAsync).
    /// </summary>
    private SemaphoreSlim? _deepSlots;

    /// <summary>The rows holding a deep slot, by id and claim token: their slot goes back there (see ReleaseSlot).</summary>
    private readonly ConcurrentDictionary<(Guid Id, Guid Token), byte> _deep = new();

    /// <summary>Requests in flight (<see cref="DispatcherOptions.MaxInFlight"/>): taken once a row is through its connection's gate, given back when its answer is in.</summary>
    private SemaphoreSlim? _requests;
    private long _lastForget = TimeProvider.System.GetTimestamp();
    private long _sent;
    private long _recorded;
    private long _handedOffRows;
    private volatile bool _stopping;
    private DateTimeOffset _nextRecovery;
    private CancellationToken _sendToken;

    /// <summary>Requests this node has sent (every attempt), for tests and diagnostics.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Results this node has committed (one attempt row each), for benchmarks and diagnostics.</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Rows this node started as their accept handed them over, without a claim (tests and diagnostics).</summary>
    public long HandedOff => Interlocked.Read(ref _handedOffRows);

    /// <summary>Slots free now, deep ones included (tests and diagnostics): every row claimed or handed over holds one until its result is written.</summary>
    public int FreeSlots => (_slots?.CurrentCount ?? 0) + (_deepSlots?.CurrentCount ?? 0);

    /// <summary>Deep slots free now (tests and diagnostics).</summary>
    public int FreeDeepSlots => _deepSlots?.CurrentCount ?? 0;

    /// <summary>Requests this node may start now before the next one waits (tests and diagnostics).</summary>
    public int FreeRequests => _requests?.CurrentCount ?? 0;

    /// <summary>The rows a connection may have claimed here beyond its concurrency limit: an eighth of the slots, 1 to 100.</summary>
    private int QueueDepth => Math.Clamp(_options.MaxInFlight / 8, 1, 100);

    /// <summary>
    /// The rows a connection known to be fast may hold in deep slots beyond its limit plus
    /// <see cref="QueueDepth"/>: an eighth of them (896 by default), so eight such connections
    /// at their depth leave room for the others (see <see cref="DispatcherOptions.MaxClaimed"/>).
    /// </summary>
    private int DeepQueueDepth => (_options.ClaimedLimit - _options.MaxInFlight) / 8;

    /// <summary>One finished request, waiting to be written; <paramref name="Slow"/>: the lane it was claimed in.</summary>
    private sealed record Completion(WebhookDelivery Delivery, Connection Connection, bool CaptureResponse, ComposedRequest Composed, SendResult? Result, DateTimeOffset At, bool Slow);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.DispatcherEnabled)
        {
            return;
        }

        _slots = new SemaphoreSlim(_options.MaxInFlight, _options.MaxInFlight);
        var deep = _options.ClaimedLimit - _options.MaxInFlight;
        _deepSlots = new SemaphoreSlim(deep, Math.Max(1, deep));
        _requests = new SemaphoreSlim(Math.Max(1, _options.MaxInFlight), Math.Max(1, _options.MaxInFlight));
        // Requests in flight at shutdown get a grace period to finish (and be recorded) instead
        // of being cut off with the host's token; what still runs after it keeps its lease.
        using var sends = new CancellationTokenSource();
        using var graceOnStop = stoppingToken.Register(() => sends.CancelAfter(_options.ShutdownGrace));
        _sendToken = sends.Token;
        var writer = Task.Run(() => WriteResultsAsync(stoppingToken), CancellationToken.None);
        var renewer = Task.Run(() => RenewLeasesAsync(stoppingToken), CancellationToken.None);
        var starter = Task.Run(StartHandedOffAsync, CancellationToken.None);
        handoff.Attach(this);
        // Under the lock a reservation counts in: once it is set, no accept takes rows any more.
        using var noMoreHandoffs = stoppingToken.Register(() =>
        {
            lock (_loadGate)
            {
                _stopping = true;
            }
        });
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    ForgetIdleConnections();
                    var claimedAt = time.GetUtcNow();
                    var claimed = await ClaimAndStartAsync(claimedAt, stoppingToken);
                    if (claimed == 0)
                    {
                        await signals.WaitForWorkAsync(claimedAt + _options.PollInterval, time, stoppingToken);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    // The database may be briefly unreachable: log, wait a poll, try again.
                    LogLoopFailure(e);
                    await signals.WaitForWorkAsync(_options.PollInterval, TimeProvider.System, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
        finally
        {
            // Let in-flight requests finish and their results be written before the host stops;
            // what does not finish keeps its lease and goes back to pending when it expires.
            var deadline = TimeProvider.System.GetUtcNow() + _options.ShutdownGrace;
            for (var i = 0; i < _options.ClaimedLimit; i++)
            {
                var left = deadline - TimeProvider.System.GetUtcNow();
                if (left <= TimeSpan.Zero || !await (i < _options.MaxInFlight ? _slots : _deepSlots!).WaitAsync(left, CancellationToken.None))
                {
                    break;
                }
            }

            // Accepts still being written keep their reservations until they end: started (a
            // request under the grace's token) or given back.
            _handedOff.Writer.TryComplete();
            await starter;
            _completions.Writer.TryComplete();
            await writer;
            await renewer;
        }
    }

    /// <summary>
    /// Keeps this node's claims alive while their rows wait behind a connection's concurrency
    /// limit or a slow endpoint. Without it a claim older than the lease was taken back (by this
    /// node too) while still queued here: the row was sent twice, the first result was written
    /// under a dead token and dropped, and a backlog bigger than lease x throughput never
    /// finished (found by the database outage test in tests/WebhooksApi.ReliabilityTests). A
    /// killed node renews nothing, so its rows still come back after one lease.
    /// </summary>
    private async Task RenewLeasesAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.Lease / 3, time, stoppingToken);
                var tokens = _leases.Keys.ToList();
                if (tokens.Count > 0)
                {
                    await using var db = await dbFactory.CreateDbContextAsync(stoppingToken);
                    await DeliveryStore.RenewAsync(db, tokens, time.GetUtcNow() + _options.Lease, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The database may be briefly unreachable: the next round tries again.
                LogRenewFailure(e);
            }
        }
    }

    /// <summary>
    /// Once a minute of real time: drops what this node keeps per connection (gate, load count,
    /// response-time average) for connections with nothing in flight here and no request for
    /// <see cref="IdleConnectionState"/>. A node serving many connections over weeks kept all of
    /// them for its whole life before (see ConnectionLimiters and SlowLane.Forget).
    /// </summary>
    private void ForgetIdleConnections()
    {
        if (TimeProvider.System.GetElapsedTime(_lastForget) < TimeSpan.FromMinutes(1))
        {
            return;
        }

        _lastForget = TimeProvider.System.GetTimestamp();
        limiters.Forget(IdleConnectionState);
        _lane.Forget(IdleConnectionState);
        // Only this loop and accepts (Reserve, under the same lock) add to the counts, so one at
        // zero has no row that could still finish into it; a connection claimed again gets a new count.
        // Kept while the connection was in use lately: an accept hands rows over only to a
        // connection this node has a count for (dropped every minute at zero before, the next
        // accept for each had to wait for a claim again).
        lock (_loadGate)
        {
            foreach (var entry in _load)
            {
                if (entry.Value.IdleFor(IdleConnectionState))
                {
                    _load.TryRemove(entry);
                }
            }
        }
    }

    /// <summary>A row held here is finished (written, or given up to its lease): its slot, deep or not, is free again.</summary>
    private void ReleaseSlot(WebhookDelivery row)
    {
        // TryRemove alone: IsEmpty on an empty dictionary takes every one of its locks, on each release.
        if (_deep.TryRemove((row.Id, row.ClaimToken ?? Guid.Empty), out _))
        {
            _deepSlots!.Release();
        }
        else
        {
            _slots!.Release();
        }
    }

    /// <summary>One row of a claim is finished here (written, or given up to its lease): stop renewing it.</summary>
    private void Release(Guid? token)
    {
        if (token is not { } key)
        {
            return;
        }

        while (_leases.TryGetValue(key, out var left))
        {
            if (left <= 1 ? _leases.TryRemove(KeyValuePair.Create(key, left)) : _leases.TryUpdate(key, left - 1, left))
            {
                return;
            }
        }
    }

    private async Task<int> ClaimAndStartAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var free = _slots!.CurrentCount;
        if (free == 0)
        {
            await _slots.WaitAsync(cancellationToken);
            _slots.Release();
            return 1;
        }

        await using var db = await ReadContextAsync(cancellationToken);
        if (now >= _nextRecovery)
        {
            // Once a poll interval, not every claim: the statement takes SQLite's one write lock
            // even when no lease has expired, and claims run hundreds of times a second under load.
            await using var recovery = await dbFactory.CreateDbContextAsync(cancellationToken);
            await DeliveryStore.RecoverExpiredAsync(recovery, now, cancellationToken);
            _nextRecovery = now + _options.PollInterval;
        }

        // A claimed delivery holds a node slot while it waits at its connection's gate. A
        // connection holding its limit plus a queue here gets no more rows until the queue has
        // drained, or an endpoint that hangs would soon hold every slot and starve all other
        // connections (before: 20 deliveries to a hanging endpoint delayed everyone by ~50 s on
        // an 8-slot node). The queue, an eighth of the slots up to 100, keeps fast endpoints busy.
        // A connection with rows here that has not answered yet waits for its first answer too.
        var queue = QueueDepth;
        var deepQueue = queue + DeepQueueDepth;
        var deepRoom = Math.Min(_options.BatchSize, _deepSlots!.CurrentCount);
        var saturated = new List<Guid>();
        var deep = new HashSet<Guid>();
        var measured = new HashSet<Guid>();
        foreach (var (connectionId, load) in _load)
        {
            var speed = _lane.SpeedOf(connectionId);
            if (load.Saturated(queue) || Unproven(load, speed))
            {
                saturated.Add(connectionId);
                // Known to be fast and short of its deep queue: its rows are claimed into deep
                // slots (see Reserve), in the same round.
                if (deepRoom > 0 && !load.Saturated(deepQueue) && speed == ConnectionSpeed.Fast)
                {
                    deep.Add(connectionId);
                }
            }
            else if (speed != ConnectionSpeed.Unmeasured)
            {
                measured.Add(connectionId);
            }
        }

        // Slow connections share a lane while a responsive one is busy (see SlowLane): left out
        // when it is full, and a claim never takes more rows than it has room for.
        var lane = _lane.Plan();
        saturated.AddRange(lane.Excluded);
        measured.ExceptWith(lane.Excluded);
        List<WebhookDelivery> claimed;
        if (writes.SharesWriter && lane.MaxRows is { } room)
        {
            // SQLite, slow connections with room in their lane: one claim for everyone else with
            // the full batch, then one for the slow ones alone, a few rows each. One claim for
            // all, capped at the lane's room, read up to that many rows from every connection:
            // beside 1,000 slow connections a claim for 56 rows took 143 ms on the one writer
            // (every accept and result write waited), and the fast connection got a share of 56.
            // Both claims in one round of the writer: the lane's in a round of its own made each
            // claim cycle wait for two.
            var epoch = signals.WorkEpoch;
            var waiting = _lane.Waiting(lane.Slow.Except(saturated), epoch);
            List<Guid> excluded = [.. saturated, .. lane.Slow];
            measured.ExceptWith(lane.Slow);
            claimed = await writes.InTransactionAsync<List<WebhookDelivery>>(
                async (w, ct) =>
                {
                    var responsive = await ClaimResponsiveAsync(w, now, Math.Min(_options.BatchSize, free), queue, excluded, measured, ct);
                    var laneBatch = Math.Min(room, free - responsive.Count);
                    List<WebhookDelivery> rows = waiting.Count == 0 || laneBatch <= 0
                        ? responsive
                        : [.. responsive, .. await ClaimLaneAsync(w, now, laneBatch, queue, waiting, epoch, ct)];
                    return [.. rows, .. await ClaimDeepAsync(w, now, deepRoom, deep, ct)];
                },
                cancellationToken);
        }
        else
        {
            claimed = await ClaimAsync(db, now, Math.Min(Math.Min(_options.BatchSize, free), lane.MaxRows ?? int.MaxValue), queue, saturated, measured, deepRoom, deep, cancellationToken);
        }

        if (claimed.Count == 0)
        {
            return 0;
        }

        var tokens = claimed.GroupBy(d => d.ClaimToken!.Value).Select(g => (Token: g.Key, Rows: g.Count())).ToList();
        foreach (var (token, rows) in tokens)
        {
            _leases[token] = rows;
        }

        try
        {
            var targets = await TargetsAsync(db, claimed, cancellationToken);
            foreach (var delivery in claimed)
            {
                // A fast connection's rows past its queue come from the deep claim: no other claim
                // of the round takes rows of a connection at its limit plus queue.
                if (deep.Contains(delivery.ConnectionId))
                {
                    await _deepSlots.WaitAsync(cancellationToken);
                    _deep[(delivery.Id, delivery.ClaimToken!.Value)] = 0;
                }
                else
                {
                    await _slots.WaitAsync(cancellationToken);
                }

                var owned = targets.Connections[delivery.ConnectionId];
                lock (_loadGate)
                {
                    _load.GetOrAdd(delivery.ConnectionId, _ => new ConnectionLoad()).Claimed(owned.Connection.MaxConcurrency);
                }

                Send(delivery, owned, targets, _lane.Claimed(delivery.ConnectionId));
            }
        }
        catch (Exception)
        {
            // Not all rows started: stop renewing the claim, so what did not start goes back to
            // pending when its lease runs out instead of being held by a live node forever.
            foreach (var (token, _) in tokens)
            {
                _leases.TryRemove(token, out _);
            }

            throw;
        }

        return claimed.Count;
    }

    /// <summary>
    /// The context a claim and the reads for sending run on. PostgreSQL: one of their own. SQLite:
    /// none (null), as the claim runs in the writer's round and the reads on prepared statements
    /// (HotQueries).
    /// </summary>
    private async Task<WebhooksDbContext?> ReadContextAsync(CancellationToken cancellationToken) =>
        writes.SharesWriter ? null : await dbFactory.CreateDbContextAsync(cancellationToken);

    /// <summary>What sending <paramref name="rows"/> needs (connections, auth connectors, steps), read for all of them at once.</summary>
    private Task<SendTargets> TargetsAsync(WebhooksDbContext? db, IEnumerable<WebhookDelivery> rows, CancellationToken cancellationToken) =>
        reads.SendTargetsAsync(db, [.. rows.Select(d => d.ConnectionId).Distinct()], [.. rows.Select(d => d.WorkflowWebhookId).OfType<Guid>().Distinct()], cancellationToken);

    /// <summary>Sends a row this node holds (claimed or handed over, its slot taken), counted in the lane given.</summary>
    private void Send(WebhookDelivery delivery, SendConnection owned, SendTargets targets, bool slow)
    {
        var connection = owned.Connection;
        var auth = connection.AuthConnectorId is { } authId ? targets.Auths.GetValueOrDefault(authId) : null;
        var step = delivery.WorkflowWebhookId is { } stepId ? targets.Steps.GetValueOrDefault(stepId) : null;
        _ = Task.Run(() => SendOneAsync(delivery, connection, auth, step, owned.AccountName, slow, _sendToken), CancellationToken.None);
    }

    /// <summary>
    /// One claim: on SQLite in the writer's next round (see AcceptCommitter.InTransactionAsync);
    /// on PostgreSQL one statement on its own, as several nodes claim side by side.
    /// </summary>
    /// <param name="db">The claim's context when it does not run in the writer's round (null when it does).</param>
    private async Task<List<WebhookDelivery>> ClaimAsync(WebhooksDbContext? db, DateTimeOffset now, int batch, int queue, List<Guid> excluded, HashSet<Guid> measured, int deepRoom, HashSet<Guid> deep, CancellationToken cancellationToken)
    {
        async Task<List<WebhookDelivery>> BothAsync(WebhooksDbContext w, CancellationToken ct) =>
            [.. await ClaimResponsiveAsync(w, now, batch, queue, excluded, measured, ct), .. await ClaimDeepAsync(w, now, deepRoom, deep, ct)];

        return db is null
            ? await writes.InTransactionAsync(BothAsync, cancellationToken)
            : await BothAsync(db, cancellationToken);
    }

    /// <summary>
    /// The claim for every connection not left out: those that have answered here (listed in
    /// <paramref name="measured"/>) up to their limit plus <paramref name="queue"/> each; then, from
    /// what is left of the batch, one row each of the others, which have not answered here yet.
    /// </summary>
    /// <remarks>
    /// Why one row: a connection never measured counts as responsive, and its first claim took up
    /// to its limit plus queue (110 rows for a limit of 10): a slow endpoint's 110 rows took 2.2 s
    /// to send, all counted as responsive work. In `fanout`, the slow connections not measured
    /// yet when the fast phase began held nearly all 1,024 slots that way (issue #8). A fast
    /// endpoint answers its one row within milliseconds, and its next claim takes the rest. A row
    /// that ends without a request (a template error) measures its connection too (see
    /// SlowLane.NotSent): otherwise a connection whose every row fails to render would stay
    /// unmeasured and a backlog of its rows would take a claim per row.
    /// </remarks>
    private async Task<List<WebhookDelivery>> ClaimResponsiveAsync(WebhooksDbContext w, DateTimeOffset now, int batch, int queue, List<Guid> excluded, HashSet<Guid> measured, CancellationToken cancellationToken)
    {
        var known = measured.Count == 0
            ? []
            : await DeliveryStore.ClaimLaneAsync(w, now, _options.Lease, batch, queue, measured, Features.Connections.ConnectionRules.MaxMaxConcurrency + queue, cancellationToken);
        var left = batch - known.Count;
        return left <= 0
            ? known
            : [.. known, .. await DeliveryStore.ClaimFirstRowsAsync(w, now, _options.Lease, left, [.. excluded, .. measured], cancellationToken)];
    }

    /// <summary>
    /// The deep claim: rows of the <paramref name="deep"/> connections (known to be fast, at their
    /// limit plus queue here) for the deep slots, up to their deep queue each.
    /// </summary>
    /// <remarks>
    /// Why: a backlog drained through the slots alone (a stopped connection's, activated) was
    /// claimed 100-odd rows at a time, each claim a statement on SQLite's one writer: 9,400-10,600
    /// deliveries/s over 100,000 against 12,200-12,400 with a queue of 1,000 (issue #8, `backlog`).
    /// </remarks>
    private Task<List<WebhookDelivery>> ClaimDeepAsync(WebhooksDbContext w, DateTimeOffset now, int room, HashSet<Guid> deep, CancellationToken cancellationToken) =>
        deep.Count == 0 || room <= 0
            ? Task.FromResult(new List<WebhookDelivery>())
            : DeliveryStore.ClaimLaneAsync(w, now, _options.Lease, room, DeepQueueDepth, deep, room, cancellationToken);

    /// <summary>
    /// The slow lane's claim (SQLite, in the writer's round): slow connections a turn at a time
    /// (see SlowLane.NextTurn), one row each while there are more of them than room, until the
    /// room is filled or every one was read once. A turn is never smaller than
    /// <see cref="LaneTurnMin"/>: a few connections with nothing due must not take a statement each.
    /// </summary>
    /// <param name="epoch">The work epoch read before the claim (see SlowLane.NothingDue).</param>
    private async Task<List<WebhookDelivery>> ClaimLaneAsync(WebhooksDbContext w, DateTimeOffset now, int room, int queue, List<Guid> waiting, long epoch, CancellationToken cancellationToken)
    {
        var rows = new List<WebhookDelivery>();
        for (var read = 0; read < waiting.Count && rows.Count < room;)
        {
            var left = room - rows.Count;
            var turn = _lane.NextTurn(waiting, Math.Min(waiting.Count - read, Math.Max(left, LaneTurnMin)));
            read += turn.Count;
            var taken = await DeliveryStore.ClaimLaneAsync(w, now, _options.Lease, left, queue, turn, (left + turn.Count - 1) / turn.Count, cancellationToken);
            rows.AddRange(taken);
            if (taken.Count < left)
            {
                // The claim's LIMIT cut nobody off, so a connection of the turn with no row had none to take.
                _lane.NothingDue(turn.Except(taken.Select(d => d.ConnectionId)), epoch);
            }
        }

        return rows;
    }

    /// <param name="slow">The lane the row was claimed in, which it leaves when its slot is released.</param>
    private async Task SendOneAsync(WebhookDelivery delivery, Connection connection, AuthConnector? auth, WorkflowWebhook? step, string accountName, bool slow, CancellationToken cancellationToken)
    {
        var queued = false;
        var measured = false;
        try
        {
            using var gate = await limiters.EnterAsync(connection.Id, connection.MaxConcurrency, connection.RateLimitPerSecond, cancellationToken);
            // Through the gate, then one of the node's requests: a row waiting for its connection
            // holds no request, so the rows held here may outnumber the requests in flight.
            await _requests!.WaitAsync(cancellationToken);
            DateTimeOffset at;
            ComposedRequest composed;
            SendResult? result = null;
            try
            {
                at = time.GetUtcNow();
                var input = Input(delivery, step, accountName, at);
                composed = composer.Compose(connection, auth, input, renderLimit: _options.TemplateRenderTimeLimit);
                if (composed.Request is not null)
                {
                    result = await sender.SendAsync(composed.Request, connection.ExpectJsonResponse, cancellationToken);
                    measured = _lane.Observe(connection.Id, result.DurationMs);
                    Interlocked.Increment(ref _sent);
                }
                else
                {
                    measured = _lane.NotSent(connection.Id);
                }
            }
            finally
            {
                _requests.Release();
            }

            await _completions.Writer.WriteAsync(new Completion(delivery, connection, step?.CaptureResponse ?? false, composed, result, at, slow), CancellationToken.None);
            queued = true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down before the request went out: the lease expires and the row is retried.
        }
        catch (Exception e)
        {
            LogSendFailure(e, delivery.Id);
        }
        finally
        {
            var laneReopened = false;
            if (!queued)
            {
                Release(delivery.ClaimToken);
                ReleaseSlot(delivery);
                laneReopened = _lane.Finished(connection.Id, slow);
            }

            var loadReopened = _load.TryGetValue(connection.Id, out var load) && load.Finished();
            // Still not measured (its row ended before a request or an answer: shutting down, a
            // failure of this node's) and holding nothing here now: claimed for again, a row at a
            // time (see ClaimResponsiveAsync).
            var unprovenIdle = load is { Idle: true } && _lane.SpeedOf(connection.Id) == ConnectionSpeed.Unmeasured;
            if (laneReopened || loadReopened || measured || unprovenIdle)
            {
                // The connection (or the slow lane) may have been left out of claims while
                // saturated, or while it had not answered yet (see Unproven): look at its backlog
                // now rather than at the next poll.
                signals.WorkAvailable();
            }
        }
    }

    /// <summary>
    /// What this node takes of an accept's rows before they are written (see DeliveryHandoff):
    /// rows due now, of a connection it has claimed for before (so it knows its limit) that is
    /// not ordered, not slow, not waiting for its first answer here (see <see cref="Unproven"/>)
    /// and not at its limit plus queue, each while a slot is free; past
    /// that, rows of a connection known to answer fast, in the deep slots, up to its deep queue.
    /// Called by the accept's writer; quick, and it waits for nothing.
    /// </summary>
    /// <remarks>
    /// Why deep slots: a row left behind waits in the database for a claim, a statement on SQLite's
    /// one writer (~23 us a row), while a row handed over is written already claimed. With only
    /// the slots (1,024, a queue of 100 a connection), a fast connection's accepts soon found its
    /// queue full and most rows went the claim's way. Only a connection measured fast gets them:
    /// slow endpoints, and ones not measured yet, still share the slots as before, so 1,000 slow
    /// connections cannot take thousands of rows before the slow lane knows them (issue #8, `fanout`).
    /// </remarks>
    internal Reservation? Reserve(IReadOnlyList<WebhookDelivery> rows)
    {
        var slots = _slots;
        if (slots is null)
        {
            return null;
        }

        var now = time.GetUtcNow();
        var token = Guid.NewGuid();
        var until = now + _options.Lease;
        var queue = QueueDepth;
        var deepQueue = queue + DeepQueueDepth;
        var deepSlots = _deepSlots!;
        WebhookDelivery[]? written = null;
        List<(WebhookDelivery Row, bool Slow)>? claimed = null;
        lock (_loadGate)
        {
            if (_stopping)
            {
                return null;
            }

            for (var i = 0; i < rows.Count; i++)
            {
                var row = rows[i];
                if (row.Status != DeliveryStatuses.Pending || row.Ordered || row.NextAttemptAt > now
                    || !_load.TryGetValue(row.ConnectionId, out var load))
                {
                    continue;
                }

                // One read of what the lane knows of the connection, under the lock every accept takes.
                var speed = _lane.SpeedOf(row.ConnectionId);
                if (speed == ConnectionSpeed.Slow || Unproven(load, speed))
                {
                    continue;
                }

                var deep = false;
                if (load.Saturated(queue) || !slots.Wait(0))
                {
                    if (speed != ConnectionSpeed.Fast || load.Saturated(deepQueue) || !deepSlots.Wait(0))
                    {
                        continue;
                    }

                    deep = true;
                }

                load.Claimed();
                var copy = row.ClaimedCopy(token, until);
                if (deep)
                {
                    _deep[(copy.Id, token)] = 0;
                }

                (written ??= [.. rows])[i] = copy;
                (claimed ??= []).Add((copy, _lane.Claimed(row.ConnectionId)));
            }
        }

        if (claimed is null)
        {
            return null;
        }

        _leases[token] = claimed.Count;
        return new Reservation(this, written!, claimed, token);
    }

    /// <summary>
    /// True while the connection has rows on this node but has not answered here yet (new, or its
    /// average forgotten): it gets no more rows, from a claim or an accept, until its first answer
    /// tells the slow lane whether it is slow.
    /// </summary>
    /// <remarks>
    /// Why: a connection never measured counts as responsive, so until its first answer (200 ms
    /// for a slow endpoint) each claim and accept gave it more rows, up to its limit plus queue.
    /// In `fanout` a quarter of the 1,000 slow connections had not answered yet when the fast
    /// phase began, and their rows held nearly all of the node's 1,024 slots: the fast connection
    /// got 0.80-0.87 of the sends and kept 0.58-0.78 of its solo rate; held to one claim or accept
    /// each until measured, 0.89-0.91 and 0.74-0.89 (six runs each, issue #8); with its first
    /// claim cut to one row as well (see ClaimResponsiveAsync), 0.97-0.98 and 0.97-1.05. A fast
    /// endpoint answers its first row within milliseconds, and is then claimed for as before.
    /// </remarks>
    private static bool Unproven(ConnectionLoad load, ConnectionSpeed speed) => !load.Idle && speed == ConnectionSpeed.Unmeasured;

    /// <summary>The reservation's rows are committed: they start on the handoff loop.</summary>
    internal void Start(Reservation reservation)
    {
        if (!_handedOff.Writer.TryWrite(reservation))
        {
            // Stopped meanwhile: the rows keep their lease and go back to pending when it runs out.
            GiveBack(reservation.Claimed, reservation.Token);
        }
    }

    /// <summary>The reservation's rows were not written, or their caller got an error: its room is free again.</summary>
    internal void Cancel(Reservation reservation) => GiveBack(reservation.Claimed, reservation.Token);

    /// <summary>Undoes what <see cref="Reserve"/> counted for rows that will not be sent here.</summary>
    private void GiveBack(IEnumerable<(WebhookDelivery Row, bool Slow)> rows, Guid token)
    {
        var reopened = false;
        foreach (var (row, slow) in rows)
        {
            Release(token);
            ReleaseSlot(row);
            reopened |= _lane.Finished(row.ConnectionId, slow);
            reopened |= _load.TryGetValue(row.ConnectionId, out var load) && load.Finished();
        }

        if (reopened)
        {
            signals.WorkAvailable();
        }
    }

    /// <summary>
    /// Starts the rows accepts handed over, as a claim's are started: what they are sent to is
    /// read for everything waiting at once, then each goes to its connection's gate.
    /// </summary>
    private async Task StartHandedOffAsync()
    {
        var reader = _handedOff.Reader;
        var batch = new List<Reservation>();
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            batch.Clear();
            while (reader.TryRead(out var reservation))
            {
                batch.Add(reservation);
            }

            SendTargets targets;
            try
            {
                await using var db = await ReadContextAsync(CancellationToken.None);
                targets = await TargetsAsync(db, batch.SelectMany(r => r.Claimed).Select(c => c.Row), CancellationToken.None);
            }
            catch (Exception e)
            {
                // As a claim whose reads failed: the rows keep their lease and come back when it runs out.
                LogLoopFailure(e);
                foreach (var reservation in batch)
                {
                    GiveBack(reservation.Claimed, reservation.Token);
                }

                continue;
            }

            foreach (var reservation in batch)
            {
                foreach (var (delivery, slow) in reservation.Claimed)
                {
                    if (!targets.Connections.TryGetValue(delivery.ConnectionId, out var owned))
                    {
                        // Deleted since the accept: nothing to send it to.
                        GiveBack([(delivery, slow)], reservation.Token);
                        continue;
                    }

                    Interlocked.Increment(ref _handedOffRows);
                    Send(delivery, owned, targets, slow);
                }
            }
        }
    }

    /// <summary>This node's claimed-and-unfinished deliveries of one connection, against its concurrency limit plus a queue.</summary>
    private sealed class ConnectionLoad
    {
        private int _claimed;
        private int _limit = int.MaxValue / 2;
        private long _lastClaimed = TimeProvider.System.GetTimestamp();

        public bool Idle => Volatile.Read(ref _claimed) == 0;

        /// <summary>Nothing claimed here now, nor for <paramref name="idle"/> of real time.</summary>
        public bool IdleFor(TimeSpan idle) => Idle && TimeProvider.System.GetElapsedTime(Interlocked.Read(ref _lastClaimed)) >= idle;

        public bool Saturated(int queue) => Volatile.Read(ref _claimed) >= Volatile.Read(ref _limit) + queue;

        public void Claimed(int limit)
        {
            Volatile.Write(ref _limit, limit);
            Claimed();
        }

        /// <summary>A row handed over by its accept, under the limit last claimed with.</summary>
        public void Claimed()
        {
            Interlocked.Increment(ref _claimed);
            Interlocked.Exchange(ref _lastClaimed, TimeProvider.System.GetTimestamp());
        }

        /// <summary>True when this finish brought the connection down to one gate's worth: time to claim more.</summary>
        public bool Finished() => Interlocked.Decrement(ref _claimed) == Volatile.Read(ref _limit);
    }

    private static MessageInput Input(WebhookDelivery delivery, WorkflowWebhook? step, string accountName, DateTimeOffset at)
    {
        var payload = JsonNode.Parse(delivery.PayloadJson) as JsonObject ?? [];
        var contact = payload["contact"] as JsonObject ?? [];
        var @event = payload["event"] as JsonObject ?? [];
        var variables = payload["variables"] as JsonObject ?? [];
        payload.Clear();
        return new MessageInput(contact, @event, variables, delivery.AccountId, accountName, WebhookSigner.NewMessageId(delivery.Id), step is null ? "webhook.delivery" : "workflow.execution", at);
    }

    /// <summary>
    /// Writes finished requests' results, everything waiting at once: up to every slot's, so one
    /// write can free every slot.
    /// </summary>
    /// <remarks>
    /// Why not fewer: a result holds its slot until it is written, and writes take turns with the
    /// claims and accepts in the writer's rounds. Capped at 256 (the first engine's figure), the
    /// rest of the finished requests waited a round more, holding their slots.
    /// </remarks>
    private async Task WriteResultsAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Completion>(_options.MaxInFlight);
        while (await _completions.Reader.WaitToReadAsync(CancellationToken.None))
        {
            batch.Clear();
            while (batch.Count < _options.ClaimedLimit && _completions.Reader.TryRead(out var completion))
            {
                batch.Add(completion);
            }

            // Rows are locked in id order, the same order on every node, so two writers cannot deadlock.
            batch.Sort((a, b) => a.Delivery.Id.CompareTo(b.Delivery.Id));

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await WriteBatchAsync(batch, CancellationToken.None);
                    Interlocked.Add(ref _recorded, batch.Count);
                    break;
                }
                catch (Exception e) when (attempt < 5)
                {
                    // Results are the only record that a request went out: keep trying before giving them up.
                    LogWriteFailure(e, batch.Count);
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), TimeProvider.System, CancellationToken.None);
                }
                catch (Exception e)
                {
                    // The rows keep their leases and go back to pending: sent again, at least once.
                    LogWriteFailure(e, batch.Count);
                    break;
                }
            }

            var laneReopened = false;
            foreach (var completion in batch)
            {
                Release(completion.Delivery.ClaimToken);
                // A slot is freed only once its result is written: sent-but-unrecorded requests
                // (what a kill -9 loses and sends again) stay bounded by the slots instead of
                // piling up in memory when the database writes slower than the receivers answer.
                ReleaseSlot(completion.Delivery);
                // The lane counts slots too. A responsive connection's rows left it when their
                // requests ended, before this write: under load (writes of 100+ ms) it looked
                // idle while its rows still held the slots its next claim waited for, and slow
                // ones went uncapped beside it (10 open with a lane of 4 in SlowLaneTests).
                laneReopened |= _lane.Finished(completion.Delivery.ConnectionId, completion.Slow);
                signals.NotifyAttemptFinished(completion.Delivery.Id);
            }

            if (laneReopened)
            {
                signals.WorkAvailable();
            }
        }
    }

    /// <summary>
    /// A batch's rows, worked out before its transaction: a retry is written `pending` here and
    /// turns `held` in the transaction if its connection is not active (<see cref="ConnectionOf"/>
    /// has each result's connection).
    /// </summary>
    private sealed record Prepared(
        List<DeliveryResult> Results,
        List<Guid> ConnectionOf,
        List<Attempt> Attempts,
        HashSet<Guid> Succeeded,
        HashSet<Guid> Failing,
        HashSet<Guid> Gone,
        HashSet<Guid> Retried,
        DateTimeOffset Latest,
        bool ResumeSignal);

    /// <summary>What a committed batch of results leaves to do outside its transaction.</summary>
    private sealed record Written(List<Guid> Stopped, HashSet<Guid> Inactive);

    private async Task WriteBatchAsync(List<Completion> batch, CancellationToken cancellationToken)
    {
        var prepared = Prepare(batch);
        // In a transaction of the writer's (on SQLite with the claims and other results of its
        // round, see AcceptCommitter.InTransactionAsync): only the statements run there, the
        // rows were worked out above.
        var written = await writes.InTransactionAsync((db, ct) => WriteInTransactionAsync(db, prepared, ct), cancellationToken);
        if (written.Stopped.Count > 0 || prepared.Retried.Count > 0)
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            foreach (var connectionId in written.Stopped)
            {
                await DeliveryStore.SettleAsync(db, connectionId, active: false, prepared.Latest, cancellationToken);
            }

            // A status change that committed after this batch read `inactive` has settled its rows
            // already, without the retries written here: read the statuses again and settle those.
            if (prepared.Retried.Count > 0)
            {
                var nowActive = (await db.Connections.Where(x => prepared.Retried.Contains(x.Id) && x.Status == ConnectionStatuses.Active)
                    .Select(x => x.Id).ToListAsync(cancellationToken)).ToHashSet();
                foreach (var connectionId in prepared.Retried.Where(id => nowActive.Contains(id) == written.Inactive.Contains(id)))
                {
                    await DeliveryStore.SettleAsync(db, connectionId, nowActive.Contains(connectionId), prepared.Latest, cancellationToken);
                }
            }
        }

        if (prepared.ResumeSignal)
        {
            signals.WorkAvailable();
        }
    }

    /// <summary>Each result's row and attempt: outcome, retry decision, the attempt's log entry.</summary>
    private static Prepared Prepare(List<Completion> batch)
    {
        var results = new List<DeliveryResult>(batch.Count);
        var connectionOf = new List<Guid>(batch.Count);
        var attempts = new List<Attempt>(batch.Count);
        var succeeded = new HashSet<Guid>();
        var failing = new HashSet<Guid>();
        var gone = new HashSet<Guid>();
        var retried = new HashSet<Guid>();
        var resumeSignal = false;
        DateTimeOffset latest = default;
        foreach (var c in batch)
        {
            var d = c.Delivery;
            var result = c.Result;
            var outcome = c.Composed.TemplateError is not null ? Outcomes.TemplateError : result!.Outcome;
            var attemptNumber = d.AttemptCount + 1;
            var first = d.FirstAttemptAt ?? c.At;
            string status;
            DateTimeOffset next = d.NextAttemptAt;
            string? reason = null;
            if (outcome == Outcomes.Ok)
            {
                status = DeliveryStatuses.Succeeded;
                succeeded.Add(c.Connection.Id);
            }
            else
            {
                // A template error sent nothing: it says nothing about the endpoint, so it does
                // not start the health check's clock (see HealthMonitor).
                if (outcome != Outcomes.TemplateError)
                {
                    failing.Add(c.Connection.Id);
                }

                if (result?.StatusCode == 410)
                {
                    gone.Add(c.Connection.Id);
                }

                // A template refused by the template or the data fails now: every attempt would
                // render it the same way. One stopped by the render time limit is retried: it
                // says how busy the node was (16 deliveries of a 5,000-delivery reliability run
                // were lost to it as template_error right after a restart on a loaded machine).
                if (outcome == Outcomes.TemplateError && !c.Composed.TemplateTimedOut)
                {
                    status = DeliveryStatuses.Failed;
                    reason = Outcomes.TemplateError;
                }
                else
                {
                    var settings = RetrySchedule.Resolve(ConnectionRules.ReadRetryPolicy(c.Connection.RetryPolicyJson));
                    var decision = RetrySchedule.Next(settings, attemptNumber, first, c.At, result?.RetryAfter, Random.Shared.NextDouble());
                    if (decision.RetryAt is { } retryAt)
                    {
                        // Held instead, in the transaction, if the connection is no longer active.
                        status = DeliveryStatuses.Pending;
                        retried.Add(c.Connection.Id);
                        next = retryAt;
                        resumeSignal = true;
                    }
                    else
                    {
                        status = DeliveryStatuses.Failed;
                        reason = decision.GiveUpReason;
                    }
                }
            }

            var completed = status is DeliveryStatuses.Succeeded or DeliveryStatuses.Failed ? c.At : (DateTimeOffset?)null;
            // The next delivery of an ordered connection becomes sendable only now.
            resumeSignal |= d.Ordered && completed is not null;
            results.Add(new DeliveryResult(
                d.Id, d.ClaimToken, status, attemptNumber, first, c.At, next, result?.StatusCode, outcome,
                c.Composed.TemplateError ?? result?.Error, c.CaptureResponse ? result?.ResponseBody : null, reason, completed));
            connectionOf.Add(c.Connection.Id);
            var subject = new AttemptSubject(d.ContactId, d.Email, d.Phone, d.Identifier);
            attempts.Add(AttemptRecorder.Build(c.Connection, c.Composed.Masked, result, c.Composed.TemplateError, subject, c.At, isTest: false, attemptNumber, d.Id, d.WorkflowWebhookId));
            latest = c.At > latest ? c.At : latest;
        }

        failing.ExceptWith(succeeded);
        return new Prepared(results, connectionOf, attempts, succeeded, failing, gone, retried, latest, resumeSignal);
    }

    /// <summary>Writes the batch's results and attempts, and what they change on their connections.</summary>
    private static async Task<Written> WriteInTransactionAsync(WebhooksDbContext db, Prepared prepared, CancellationToken cancellationToken)
    {
        // A connection may have left `active` while these requests were in flight (health check,
        // user, 410): a retry must then wait as held, or it would slip past the hold.
        // Only retries depend on it: a batch without one does not read it.
        var inactive = prepared.Retried.Count == 0
            ? []
            : (await db.Connections.Where(x => prepared.Retried.Contains(x.Id) && x.Status != ConnectionStatuses.Active)
                .Select(x => x.Id).ToListAsync(cancellationToken)).ToHashSet();
        var results = prepared.Results;
        if (inactive.Count > 0)
        {
            results = results.Select((r, i) => r.Status == DeliveryStatuses.Pending && inactive.Contains(prepared.ConnectionOf[i]) ? r with { Status = DeliveryStatuses.Held } : r).ToList();
        }

        await DeliveryStore.WriteResultsAsync(db, results, cancellationToken);
        await AttemptRecorder.InsertAsync(db, prepared.Attempts, cancellationToken);
        await DeliveryStore.MarkFailingAsync(db, prepared.Succeeded, prepared.Failing, prepared.Latest, cancellationToken);

        var stopped = new List<Guid>();
        foreach (var connectionId in prepared.Gone)
        {
            // 410 Gone: the endpoint says it will not come back. Stop sending and hold what waits.
            var changed = await db.Connections.Where(x => x.Id == connectionId && x.Status == ConnectionStatuses.Active)
                .ExecuteUpdateAsync(u => u
                    .SetProperty(x => x.Status, ConnectionStatuses.Error)
                    .SetProperty(x => x.StatusReason, "The endpoint answered 410 Gone.")
                    .SetProperty(x => x.StatusChangedAt, prepared.Latest), cancellationToken);
            if (changed > 0)
            {
                stopped.Add(connectionId);
            }
        }

        if (stopped.Count > 0)
        {
            // This batch's own retries to a connection it has just stopped are held in the same
            // commit: written pending and held only by the settle after it, a reader saw the
            // connection in error beside the very delivery that stopped it still pending (a CI
            // failure). Its other waiting rows are settled after the commit, in chunks.
            var held = results.Where((r, i) => r.Status == DeliveryStatuses.Pending && stopped.Contains(prepared.ConnectionOf[i])).Select(r => r.Id).ToList();
            if (held.Count > 0)
            {
                await db.Deliveries.Where(d => held.Contains(d.Id) && d.Status == DeliveryStatuses.Pending)
                    .ExecuteUpdateAsync(u => u
                        .SetProperty(d => d.Status, DeliveryStatuses.Held)
                        .SetProperty(d => d.UpdatedAt, prepared.Latest), cancellationToken);
            }

            inactive.UnionWith(stopped);
        }

        return new Written(stopped, inactive);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The dispatcher loop failed; retrying after a poll interval")]
    private partial void LogLoopFailure(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sending delivery {DeliveryId} failed unexpectedly; its lease will return it to pending")]
    private partial void LogSendFailure(Exception exception, Guid deliveryId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing this node's delivery leases failed; retrying")]
    private partial void LogRenewFailure(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} delivery results failed")]
    private partial void LogWriteFailure(Exception exception, int count);
}
