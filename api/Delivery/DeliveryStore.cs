using Microsoft.EntityFrameworkCore;
using WebhooksApi.Persistence;

namespace WebhooksApi.Delivery;

/// <summary>
/// The queue operations on the deliveries table. The table is the single source of truth: a
/// claim moves rows to `delivering` under a token and a lease; a result is written only under
/// the same token; an expired lease (a node died mid-request) puts the row back to `pending`.
/// </summary>
internal static class DeliveryStore
{
    /// <summary>Statuses in which a delivery still occupies its place in an ordered connection's line.</summary>
    private const string Unfinished = "('pending', 'delivering', 'held')";

    // Both claims go connection by connection: each connection's due rows are read in time order
    // from its own range of the due index (pending rows only, see 20261201000010_InFlightIndexes:
    // the term `h.status = 'pending'` is what lets the planner use it), at most max_concurrency +
    // {4} (the dispatcher's queue depth) of them, and the batch takes every connection's first row
    // before anyone's second (ORDER BY rn); {5} is the batch size. Before, a claim took the oldest
    // due rows of the whole table: a fast endpoint whose work arrived after a backlog for 200 slow
    // ones got almost no rows (8% of its solo throughput in the fanout benchmark). The
    // per-connection cap matters because a claimed row holds one of the node's request slots
    // while it waits for its connection's gate: without it one slow endpoint would fill every
    // slot (see Dispatcher). The excluded list leaves out connections this node already holds
    // enough rows for; {6} bounds the per-connection read (SQLite cannot take a LIMIT from the
    // outer row), never more than the batch, which no connection can exceed (a slow-lane claim
    // capped at 32 rows read up to 200 rows of each of 1,000 backlogged connections before), and
    // the read stops at the largest max_concurrency among active connections plus {4}: the most
    // any of them can take. Bounded by the largest allowed instead, a claim for four connections
    // of 32 read 200 due rows of each (800) to keep 132 of each.
    // PostgreSQL reads each connection's rows up to LEAST(max_concurrency + {4}, {6}) itself: a
    // claim of first rows ({4} = 0, {6} = 1) takes one row of each connection on both databases.
    // Ties in next_attempt_at (a batch accepted at once) come in index order, not sorted by id:
    // sorting them would read a connection's whole due backlog before the LIMIT.
    private const string Excluded = "/* excluded */";

    private const string DueRows = $"""
        SELECT h.id FROM deliveries h
        WHERE h.connection_id = k.id AND h.status = 'pending' AND h.next_attempt_at <= {"{3}"}
          AND (NOT h.ordered OR NOT EXISTS (
            SELECT 1 FROM deliveries o WHERE o.connection_id = h.connection_id AND o.status IN {Unfinished} AND o.id < h.id))
        ORDER BY h.next_attempt_at LIMIT MIN({"{6}"}, (SELECT MAX(a.max_concurrency) FROM connections a WHERE a.status = 'active') + {"{4}"})
        """;

    // SQLite: one writer at a time, so a plain UPDATE ... WHERE id IN (subquery) is atomic.
    // CROSS JOIN fixes the join order (SQLite's documented hint): connections outside, each one's
    // due rows inside. Left to itself, once `k.status = 'active'` was added the planner scanned
    // every delivery and ran the per-connection subquery for each: 10 ms of CPU per delivery.
    private const string SqliteClaim = $"""
        UPDATE deliveries SET status = 'delivering', claim_token = {"{0}"}, locked_until = {"{1}"}, updated_at = {"{2}"}
        WHERE id IN (
          SELECT id FROM (
            SELECT d.id, k.max_concurrency, ROW_NUMBER() OVER (PARTITION BY d.connection_id ORDER BY d.next_attempt_at, d.id) AS rn
            FROM connections k CROSS JOIN deliveries d
            WHERE k.status = 'active'{Excluded} AND d.id IN ({DueRows}))
          WHERE rn <= max_concurrency + {"{4}"} ORDER BY rn LIMIT {"{5}"})
        """;

    // PostgreSQL: several nodes claim at once. FOR UPDATE SKIP LOCKED makes each skip rows
    // another node is claiming instead of waiting for them; the window function is not allowed
    // next to FOR UPDATE, hence the second CTE. The ordered rule's NOT EXISTS reads without
    // locking, so it still sees a head another node is holding.
    private const string PostgresClaim = $"""
        WITH c AS (
          SELECT d.id, d.connection_id, d.next_attempt_at, k.max_concurrency FROM connections k
          CROSS JOIN LATERAL (
            SELECT h.id, h.connection_id, h.next_attempt_at FROM deliveries h
            WHERE h.connection_id = k.id AND h.status = 'pending' AND h.next_attempt_at <= {"{3}"}
              AND (NOT h.ordered OR NOT EXISTS (
                SELECT 1 FROM deliveries o WHERE o.connection_id = h.connection_id AND o.status IN {Unfinished} AND o.id < h.id))
            ORDER BY h.next_attempt_at LIMIT LEAST(k.max_concurrency + {"{4}"}, {"{6}"})
            FOR UPDATE SKIP LOCKED) d
          WHERE k.status = 'active'{Excluded}),
        r AS (SELECT id, ROW_NUMBER() OVER (PARTITION BY connection_id ORDER BY next_attempt_at, id) AS rn FROM c)
        UPDATE deliveries SET status = 'delivering', claim_token = {"{0}"}, locked_until = {"{1}"}, updated_at = {"{2}"}
        WHERE id IN (SELECT id FROM r ORDER BY rn LIMIT {"{5}"})
        """;

    // The connections left out travel as one parameter: a JSON array of hex ids read by json_each
    // on SQLite (unhex gives the stored bytes, see SqliteIds), a uuid[] on PostgreSQL. Before,
    // they were inlined as literals: every claim beside many saturated or slow connections was a
    // new statement to parse and plan (a claim leaving out 731 of 1,000 slow connections took
    // 94 ms against 31 ms alone, in the fanout benchmark).
    private static readonly string SqliteClaimSql = SqliteClaim.Replace(Excluded, " AND k.id NOT IN (SELECT unhex(value) FROM json_each({7}))", StringComparison.Ordinal) + "\nRETURNING *";

    private static readonly string PostgresClaimSql = PostgresClaim.Replace(Excluded, " AND NOT (k.id = ANY({7}))", StringComparison.Ordinal) + "\nRETURNING *";

    // The lane claim's form: only the connections listed (see Dispatcher.ClaimAndStartAsync).
    private static readonly string SqliteLaneClaimSql = SqliteClaim.Replace(Excluded, " AND k.id IN (SELECT unhex(value) FROM json_each({7}))", StringComparison.Ordinal) + "\nRETURNING *";

    private static readonly string PostgresLaneClaimSql = PostgresClaim.Replace(Excluded, " AND k.id = ANY({7})", StringComparison.Ordinal) + "\nRETURNING *";

    /// <summary>The SQLite claims with named parameters, for the writer's statements kept prepared.</summary>
    private static readonly string SqliteClaimNamed = Named(SqliteClaimSql);

    private static readonly string SqliteLaneClaimNamed = Named(SqliteLaneClaimSql);

    private static readonly string[] ClaimParameters = [.. Enumerable.Range(0, 8).Select(i => $"@p{i}")];

    /// <summary>
    /// Claims one due row of each connection not left out (a connection that has not answered on
    /// this node yet gets one row until it has: see Dispatcher.ClaimResponsiveAsync).
    /// </summary>
    /// <param name="excluded">Connections not to claim for (this node holds enough of their rows, or claims for them otherwise).</param>
    public static Task<List<WebhookDelivery>> ClaimFirstRowsAsync(
        WebhooksDbContext db, DateTimeOffset now, TimeSpan lease, int batch, IReadOnlyCollection<Guid> excluded, CancellationToken cancellationToken) =>
        ClaimAsync(db, now, lease, batch, 0, excluded, lane: false, 1, cancellationToken);

    /// <summary>
    /// Claims for the listed connections only, at most <paramref name="perConnection"/> rows each
    /// (and their limit plus <paramref name="queueDepth"/>): the slow lane's claim, across many
    /// slow connections that each need few rows; the deep claim; the claim for connections that
    /// have answered on this node.
    /// </summary>
    public static Task<List<WebhookDelivery>> ClaimLaneAsync(
        WebhooksDbContext db, DateTimeOffset now, TimeSpan lease, int batch, int queueDepth, IReadOnlyCollection<Guid> only, int perConnection, CancellationToken cancellationToken) =>
        ClaimAsync(db, now, lease, batch, queueDepth, only, lane: true, Math.Clamp(perConnection, 1, batch), cancellationToken);

    private static async Task<List<WebhookDelivery>> ClaimAsync(
        WebhooksDbContext db, DateTimeOffset now, TimeSpan lease, int batch, int queueDepth, IReadOnlyCollection<Guid> listed, bool lane, int perConnection, CancellationToken cancellationToken)
    {
        var token = Guid.NewGuid();
        object list = db.IsPostgres
            ? listed.ToArray()
            : "[" + string.Join(',', listed.Select(id => $"\"{id:N}\"")) + "]";
        object[] values =
        [
            db.IdParameter(token), db.TimestampParameter(now + lease), db.TimestampParameter(now), db.TimestampParameter(now), queueDepth, batch, perConnection, list,
        ];

        // On the SQLite writer's connection the statement stays prepared from one claim to the
        // next: through EF it was parsed and planned again each time (a few hundred rows of SQL),
        // on the one thread every accept waits for.
        if (await RawStatements.QueryKeptAsync(db, lane ? SqliteLaneClaimNamed : SqliteClaimNamed, ClaimParameters, values, SqliteDeliveryReader, cancellationToken) is { } kept)
        {
            return kept;
        }

        // The claimed rows come back from the UPDATE itself (RETURNING, on both databases): one
        // statement per claim instead of a second one reading them again by token.
        var sql = db.IsPostgres ? (lane ? PostgresLaneClaimSql : PostgresClaimSql) : (lane ? SqliteLaneClaimSql : SqliteClaimSql);
        return await db.Deliveries
            .FromSqlRaw(sql, values)
            .AsNoTracking()
            .ToListAsync(cancellationToken);
    }

    private static string Named(string sql) => Enumerable.Range(0, 8).Aggregate(sql, (named, i) => named.Replace($"{{{i}}}", $"@p{i}", StringComparison.Ordinal));

    /// <summary>Reads a deliveries row as SQLite stores it (ids as 16-byte BLOBs, times as microseconds, booleans as 0/1), as EF would.</summary>
    internal static Func<System.Data.Common.DbDataReader, WebhookDelivery> SqliteDeliveryReader(System.Data.Common.DbDataReader reader)
    {
        int O(string name) => reader.GetOrdinal(name);
        int id = O("id"), account = O("account_id"), connection = O("connection_id"), step = O("workflow_webhook_id"), status = O("status"),
            ordered = O("ordered"), payload = O("payload_json"), contact = O("contact_id"), email = O("email"), phone = O("phone"),
            identifier = O("identifier"), attempts = O("attempt_count"), next = O("next_attempt_at"), first = O("first_attempt_at"),
            last = O("last_attempt_at"), token = O("claim_token"), locked = O("locked_until"), code = O("last_status_code"),
            outcome = O("last_outcome"), error = O("last_error"), body = O("response_body"), reason = O("failure_reason"),
            created = O("created_at"), updated = O("updated_at"), completed = O("completed_at");
        static DateTimeOffset Time(long microseconds) => WebhooksDbContext.FromUnixMicroseconds(microseconds);
        return r => new WebhookDelivery
        {
            Id = SqliteIds.Read(r, id),
            AccountId = SqliteIds.Read(r, account),
            ConnectionId = SqliteIds.Read(r, connection),
            WorkflowWebhookId = r.IsDBNull(step) ? null : SqliteIds.Read(r, step),
            Status = r.GetString(status),
            Ordered = r.GetInt64(ordered) != 0,
            PayloadJson = r.GetString(payload),
            ContactId = r.IsDBNull(contact) ? null : r.GetString(contact),
            Email = r.IsDBNull(email) ? null : r.GetString(email),
            Phone = r.IsDBNull(phone) ? null : r.GetString(phone),
            Identifier = r.IsDBNull(identifier) ? null : r.GetString(identifier),
            AttemptCount = r.GetInt32(attempts),
            NextAttemptAt = Time(r.GetInt64(next)),
            FirstAttemptAt = r.IsDBNull(first) ? null : Time(r.GetInt64(first)),
            LastAttemptAt = r.IsDBNull(last) ? null : Time(r.GetInt64(last)),
            ClaimToken = r.IsDBNull(token) ? null : SqliteIds.Read(r, token),
            LockedUntil = r.IsDBNull(locked) ? null : Time(r.GetInt64(locked)),
            LastStatusCode = r.IsDBNull(code) ? null : r.GetInt32(code),
            LastOutcome = r.IsDBNull(outcome) ? null : r.GetString(outcome),
            LastError = r.IsDBNull(error) ? null : r.GetString(error),
            ResponseBody = r.IsDBNull(body) ? null : r.GetString(body),
            FailureReason = r.IsDBNull(reason) ? null : r.GetString(reason),
            CreatedAt = Time(r.GetInt64(created)),
            UpdatedAt = Time(r.GetInt64(updated)),
            CompletedAt = r.IsDBNull(completed) ? null : Time(r.GetInt64(completed)),
        };
    }

    private static readonly RowsStatement Insert = RowsStatement.Insert(
        "deliveries",
        ("id", SetColumn.Uuid), ("account_id", SetColumn.Uuid), ("connection_id", SetColumn.Uuid), ("workflow_webhook_id", SetColumn.Uuid),
        ("status", SetColumn.Text), ("ordered", SetColumn.Boolean), ("payload_json", SetColumn.Text), ("contact_id", SetColumn.Text),
        ("email", SetColumn.Text), ("phone", SetColumn.Text), ("identifier", SetColumn.Text), ("attempt_count", SetColumn.Integer),
        ("next_attempt_at", SetColumn.Timestamp), ("created_at", SetColumn.Timestamp), ("updated_at", SetColumn.Timestamp),
        ("completed_at", SetColumn.Timestamp), ("failure_reason", SetColumn.Text), ("claim_token", SetColumn.Uuid), ("locked_until", SetColumn.Timestamp));

    /// <summary>
    /// Inserts newly accepted deliveries (no attempt yet) in the caller's transaction, without
    /// change tracking: EF's SaveChanges for a batch of 1,000 executions was most of the accept
    /// path's CPU in throughput and backlog profiles, on both providers. A row handed to this
    /// node's dispatcher by its accept is written already claimed (see DeliveryHandoff).
    /// </summary>
    public static Task<int> InsertAsync(WebhooksDbContext db, IReadOnlyCollection<WebhookDelivery> rows, CancellationToken cancellationToken) =>
        RawStatements.ExecuteAsync(
            db,
            Insert,
            rows.Select(d => new object?[]
            {
                d.Id, d.AccountId, d.ConnectionId, d.WorkflowWebhookId, d.Status, d.Ordered, d.PayloadJson, d.ContactId, d.Email, d.Phone,
                d.Identifier, 0, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.CompletedAt, d.FailureReason, d.ClaimToken, d.LockedUntil,
            }).ToList(),
            cancellationToken);

    // On PostgreSQL the rows come in id order (the dispatcher sorts each batch) and the join
    // reads the array in that order: rows are still locked in id order, as before.
    private static readonly RowsStatement ResultUpdate = new(
        """
        UPDATE deliveries SET status = @status, attempt_count = @attempts, first_attempt_at = @first, last_attempt_at = @at,
          next_attempt_at = @next, claim_token = NULL, locked_until = NULL, last_status_code = @code, last_outcome = @outcome,
          last_error = @error, response_body = @body, failure_reason = @reason, completed_at = @completed, updated_at = @at
        WHERE id = @id AND claim_token = @token
        """,
        ["@id", "@token", "@status", "@attempts", "@first", "@at", "@next", "@code", "@outcome", "@error", "@body", "@reason", "@completed"],
        """
        UPDATE deliveries d SET status = r.status, attempt_count = r.attempts, first_attempt_at = r.first_at, last_attempt_at = r.attempted_at,
          next_attempt_at = r.next_at, claim_token = NULL, locked_until = NULL, last_status_code = r.code, last_outcome = r.outcome,
          last_error = r.error, response_body = r.body, failure_reason = r.reason, completed_at = r.completed, updated_at = r.attempted_at
        FROM unnest(@id, @token, @status, @attempts, @first, @at, @next, @code, @outcome, @error, @body, @reason, @completed)
          AS r(id, token, status, attempts, first_at, attempted_at, next_at, code, outcome, error, body, reason, completed)
        WHERE d.id = r.id AND d.claim_token = r.token
        """,
        [SetColumn.Uuid, SetColumn.Uuid, SetColumn.Text, SetColumn.Integer, SetColumn.Timestamp, SetColumn.Timestamp, SetColumn.Timestamp, SetColumn.Integer,
         SetColumn.Text, SetColumn.Text, SetColumn.Text, SetColumn.Text, SetColumn.Timestamp]);

    /// <summary>
    /// Writes attempt results in the caller's transaction, each only under the claim token it was
    /// sent with: a row whose lease expired and was claimed again (by this node or another) is
    /// not overwritten by the late result.
    /// </summary>
    public static Task<int> WriteResultsAsync(WebhooksDbContext db, IReadOnlyCollection<DeliveryResult> results, CancellationToken cancellationToken) =>
        RawStatements.ExecuteAsync(
            db,
            ResultUpdate,
            results.Select(r => new object?[] { r.Id, r.Token, r.Status, r.Attempts, r.First, r.At, r.Next, r.StatusCode, r.Outcome, r.Error, r.ResponseBody, r.FailureReason, r.CompletedAt }).ToList(),
            cancellationToken);

    private const string ClearFailing = "UPDATE connections SET failing_since = NULL WHERE id = @id AND failing_since IS NOT NULL";

    private const string MarkFailing = "UPDATE connections SET failing_since = @at WHERE id = @id AND failing_since IS NULL";

    private static readonly string[] FailingParameters = ["@id", "@at"];

    private static readonly string[] IdParameter = ["@id"];

    /// <summary>
    /// In the caller's transaction: connections that just answered a delivery stop failing, and
    /// the others, failing now, keep the moment they started (what the health check measures).
    /// Statements below EF, kept prepared on the SQLite writer's connection: a result batch ran
    /// them through EF's pipeline, parsed again each time (0.5 ms a batch, ~5% of the writer's
    /// time at 1,000 executions/s).
    /// </summary>
    public static async Task MarkFailingAsync(WebhooksDbContext db, IReadOnlyCollection<Guid> succeeded, IReadOnlyCollection<Guid> failing, DateTimeOffset since, CancellationToken cancellationToken)
    {
        await RawStatements.ExecuteAsync(db, ClearFailing, IdParameter, succeeded.Select(id => new object?[] { id }).ToList(), cancellationToken);
        await RawStatements.ExecuteAsync(db, MarkFailing, FailingParameters, failing.Select(id => new object?[] { id, since }).ToList(), cancellationToken);
    }

    /// <summary>Rows whose node died mid-request (lease passed) go back to pending: at-least-once.</summary>
    public static Task<int> RecoverExpiredAsync(WebhooksDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Back to pending, or to held when the connection stopped being active meanwhile: claims
        // read active connections only, so a pending row of an inactive one would wait unseen.
        const string Back = "CASE WHEN EXISTS (SELECT 1 FROM connections k WHERE k.id = deliveries.connection_id AND k.status = 'active') THEN 'pending' ELSE 'held' END";
        if (db.IsPostgres)
        {
            // SKIP LOCKED: a row locked right now is being written by its node, so it is not dead;
            // waiting on it instead deadlocked against the result writer's batch (40P01).
            return db.Database.ExecuteSqlRawAsync(
                $"""
                UPDATE deliveries SET status = {Back}, claim_token = NULL, locked_until = NULL, updated_at = {"{0}"}
                WHERE id IN (SELECT id FROM deliveries WHERE status = 'delivering' AND locked_until < {"{0}"} FOR UPDATE SKIP LOCKED)
                """,
                [now],
                cancellationToken);
        }

        return db.Database.ExecuteSqlRawAsync(
            $"""
            UPDATE deliveries SET status = {Back}, claim_token = NULL, locked_until = NULL, updated_at = {"{0}"}
            WHERE status = 'delivering' AND locked_until < {"{0}"}
            """,
            [db.TimestampParameter(now)],
            cancellationToken);
    }

    /// <summary>A live node extends the leases of the claims it still works on (rows already written have no token).</summary>
    public static Task<int> RenewAsync(WebhooksDbContext db, IReadOnlyCollection<Guid> tokens, DateTimeOffset until, CancellationToken cancellationToken)
    {
        if (db.IsPostgres)
        {
            // SKIP LOCKED, as in recovery: a locked row is being finished, and must not deadlock the writer.
            return db.Database.ExecuteSqlRawAsync(
                """
                UPDATE deliveries SET locked_until = {0}
                WHERE id IN (SELECT id FROM deliveries WHERE status = 'delivering' AND claim_token = ANY({1}) FOR UPDATE SKIP LOCKED)
                """,
                [until, tokens.ToArray()],
                cancellationToken);
        }

        var nullable = tokens.Select(t => (Guid?)t).ToList();
        return db.Deliveries
            .Where(d => d.Status == DeliveryStatuses.Delivering && nullable.Contains(d.ClaimToken))
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.LockedUntil, until), cancellationToken);
    }

    /// <summary>Rows moved per transaction when a connection's deliveries follow its status.</summary>
    private const int SettleChunk = 5_000;

    // Each chunk re-reads the connection's status in its own transaction, so a chunk never undoes
    // a status change that committed meanwhile (an activation racing the health check's hold).
    private const string ResumeChunk = """
        UPDATE deliveries SET status = 'pending', next_attempt_at = {1}, updated_at = {1}
        WHERE id IN (SELECT id FROM deliveries WHERE connection_id = {0} AND status = 'held' ORDER BY id LIMIT {2})
          AND EXISTS (SELECT 1 FROM connections WHERE id = {0} AND status = 'active')
        """;

    private const string HoldChunk = """
        UPDATE deliveries SET status = 'held', updated_at = {1}
        WHERE id IN (SELECT id FROM deliveries WHERE connection_id = {0} AND status = 'pending' ORDER BY id LIMIT {2})
          AND EXISTS (SELECT 1 FROM connections WHERE id = {0} AND status <> 'active')
        """;

    /// <summary>
    /// Brings a connection's waiting deliveries in line with its committed status: held while it
    /// may not be sent to (nothing is dropped), pending again, in accepted order, once it is active.
    /// Call it after the status change has committed. It works in chunks of a few thousand rows,
    /// each its own transaction: resuming a 1,000,000-delivery backlog in one statement held
    /// SQLite's write lock for over 30 s (every accept, claim and result write waited, and lease
    /// recovery and Quartz failed with "database is locked"). Until a chunk has moved them, pending
    /// rows of a connection that is not active are not claimed (the claim reads active connections
    /// only), and a node that dies midway leaves the rest to <see cref="UnsettledConnectionsAsync"/>.
    /// </summary>
    public static async Task<int> SettleAsync(WebhooksDbContext db, Guid connectionId, bool active, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            var moved = await db.Database.ExecuteSqlRawAsync(active ? ResumeChunk : HoldChunk, [db.IdParameter(connectionId), db.TimestampParameter(now), SettleChunk], cancellationToken);
            total += moved;
            if (moved < SettleChunk)
            {
                return total;
            }
        }
    }

    /// <summary>Connections whose waiting deliveries do not match their status (a settle cut short), with that status.</summary>
    public static Task<List<(Guid Id, bool Active)>> UnsettledConnectionsAsync(WebhooksDbContext db, CancellationToken cancellationToken) =>
        db.Connections
            .Where(k => k.Status == ConnectionStatuses.Active
                ? db.Deliveries.Any(d => d.ConnectionId == k.Id && d.Status == DeliveryStatuses.Held)
                : db.Deliveries.Any(d => d.ConnectionId == k.Id && d.Status == DeliveryStatuses.Pending))
            .Select(k => new ValueTuple<Guid, bool>(k.Id, k.Status == ConnectionStatuses.Active))
            .ToListAsync(cancellationToken);

    /// <summary>Held longer than the hold limit: failed, with reason `expired`.</summary>
    public static Task<int> ExpireHeldAsync(WebhooksDbContext db, DateTimeOffset now, TimeSpan holdLimit, CancellationToken cancellationToken)
    {
        var cutoff = now - holdLimit;
        return db.Deliveries
            .Where(d => d.Status == DeliveryStatuses.Held && d.CreatedAt < cutoff)
            .ExecuteUpdateAsync(u => u
                .SetProperty(d => d.Status, DeliveryStatuses.Failed)
                .SetProperty(d => d.FailureReason, "expired")
                .SetProperty(d => d.CompletedAt, now)
                .SetProperty(d => d.UpdatedAt, now), cancellationToken);
    }
}

/// <summary>What one attempt changes on its delivery row.</summary>
internal sealed record DeliveryResult(
    Guid Id,
    Guid? Token,
    string Status,
    int Attempts,
    DateTimeOffset First,
    DateTimeOffset At,
    DateTimeOffset Next,
    int? StatusCode,
    string Outcome,
    string? Error,
    string? ResponseBody,
    string? FailureReason,
    DateTimeOffset? CompletedAt);
