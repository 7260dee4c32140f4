using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using WebhooksApi.Benchmarks.Harness;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>
/// 6. The log list (GET /v1/logs) over N attempt rows. The rows are written straight into the
/// attempts table (prepared INSERTs in large transactions on SQLite, binary COPY on PostgreSQL;
/// through the API it would take hours), one every 100 ms of the recent past, 50,000 distinct
/// contacts and two more (one in every 50th row, one in every 1,000th), mostly 200s with some
/// 404/429/500, no test sends; each row with its delivery, through which the contact filters
/// find attempts (migration 20261202000015_AttemptSubjectsThroughDeliveries). Each filter is
/// asked for its first page and for a page deep in the table (a cursor at the middle row), over
/// HTTP; p50/p95 of 20 calls each.
/// </summary>
internal sealed class LogsScenario : Scenario
{
    /// <summary>The contacts the seeded rows are for: as many as the delivering scenarios send to.</summary>
    private const int Contacts = ServiceApi.Contacts;

    private const string Url = "http://127.0.0.1/logs";
    private const string Headers = """{"content-type":"application/json","webhook-id":"msg_x","webhook-signature":"***"}""";
    private const string Body = """{"contact":{"id":"c1","email":"c1@example.com"},"event":{"orderId":1}}""";
    private const int Calls = 20;
    private const int HotEvery = 50;
    private const string HotContact = "hot";
    private const int WarmEvery = 1_000;
    private const string WarmContact = "warm";
    private static readonly TimeSpan Spacing = TimeSpan.FromMilliseconds(100);

    public override string Name => "logs";

    public override string Unit => "attempt rows";

    public override int DefaultN => 5_000_000;

    public override int AllN => 200_000;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var env = await BenchEnvironment.StartAsync(provider, null, cancellationToken);
        var step = await env.Api.CreateStepAsync(env.Receiver.Url("/logs"), cancellationToken: cancellationToken);
        var accountId = await env.Database.ScalarIdAsync("SELECT id FROM accounts", cancellationToken);
        var end = DateTimeOffset.UtcNow.AddMinutes(-1);
        var start = end - (Spacing * n);
        var seedClock = Stopwatch.StartNew();
        var middle = await SeedAsync(env.Database, accountId, Guid.Parse(step.ConnectionId), Guid.Parse(step.StepId), start, n, cancellationToken);
        var seedRate = n / seedClock.Elapsed.TotalSeconds;
        var deep = PageRequest.Encode(middle);
        var figures = new RunFigures().Add("seed rows/s", seedRate, "rows/s");

        var span = end - start;
        string Time(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("O", CultureInfo.InvariantCulture));
        string Email() => $"c{Random.Shared.Next(Contacts)}@example.com";
        string Range()
        {
            var from = start + (span * (0.3 + (Random.Shared.NextDouble() * 0.1)));
            return $"from={Time(from)}&to={Time(from + (span * 0.3))}";
        }

        (string Name, Func<string> Query)[] filters =
        [
            ("none", () => string.Empty),
            ("status 500", () => "statusCode=500"),
            ("status 4xx", () => "statusCode=4xx"),
            ("email", () => "email=" + Email()),
            ("identifier", () => "identifier=" + Email()),
            ("contact id", () => "contactId=c" + Random.Shared.Next(Contacts).ToString(CultureInfo.InvariantCulture)),
            ("email of 1 row in 50", () => "email=" + HotContact + "%40example.com"),
            ("contact id of 1 row in 50", () => "contactId=" + HotContact),
            ("email of 1 row in 1,000", () => "email=" + WarmContact + "%40example.com"),
            ("contact id of 1 row in 1,000", () => "contactId=" + WarmContact),
            ("date range", Range),
            ("combined", () => $"statusCode=200&email={Email()}&{Range()}"),
            // None of the seeded rows is a test send: the worst case, a filter that matches nothing.
            ("test sends", () => "test=true"),
        ];
        foreach (var (name, query) in filters)
        {
            var first = await TimeCallsAsync(env.Api, query, null, cancellationToken);
            var deeper = await TimeCallsAsync(env.Api, query, deep, cancellationToken);
            figures.Add($"{name}: first page p50", Stats.Percentile(first, 50), "ms")
                .Add($"{name}: first page p95", Stats.Percentile(first, 95), "ms", Goal.Below, 50)
                .Add($"{name}: deep cursor p50", Stats.Percentile(deeper, 50), "ms")
                .Add($"{name}: deep cursor p95", Stats.Percentile(deeper, 95), "ms");
        }

        return figures;
    }

    private static async Task<List<double>> TimeCallsAsync(HttpClient api, Func<string> query, string? cursor, CancellationToken cancellationToken)
    {
        var times = new List<double>();
        for (var i = -3; i < Calls; i++)
        {
            var q = query();
            if (cursor is not null)
            {
                q = (q.Length > 0 ? q + "&" : string.Empty) + "cursor=" + cursor;
            }

            var clock = Stopwatch.StartNew();
            using var response = await api.GetAsync(new Uri("/v1/logs?" + q, UriKind.Relative), cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var elapsed = clock.Elapsed.TotalMilliseconds;
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"GET /v1/logs?{q} answered {(int)response.StatusCode}: {body[..Math.Min(500, body.Length)]}");
            }

            if (i >= 0)
            {
                times.Add(elapsed);
            }
        }

        return times;
    }

    private sealed record Row(Guid Id, Guid DeliveryId, DateTimeOffset At, string ContactId, string Email, int? Status, string Outcome, int DurationMs)
    {
        /// <summary>Its delivery's status: one attempt each, so a 2xx succeeded and anything else failed.</summary>
        public string DeliveryStatus => Status is >= 200 and < 300 ? DeliveryStatuses.Succeeded : DeliveryStatuses.Failed;
    }

    private static Row MakeRow(DateTimeOffset start, int i)
    {
        var at = start + (Spacing * i);
        var contact = (int)((i * 7919L) % Contacts);
        var roll = i % 100;
        var (status, outcome) = roll switch
        {
            < 88 => ((int?)200, "ok"),
            < 92 => (404, "http_error"),
            < 94 => (429, "http_error"),
            < 99 => (500, "http_error"),
            _ => (null, "timeout"),
        };
        // One row in 50 is for one contact, an address on every seed list, and one in 1,000 for
        // another (5,000 rows at 5,000,000, where the log's two ways of reading a contact's
        // attempts cost the most): the contact filters' worst cases, beside contacts of 100 rows.
        var (contactId, email) = (i % WarmEvery) switch
        {
            WarmEvery / 2 => (WarmContact, WarmContact + "@example.com"),
            var r when r % HotEvery == HotEvery / 2 => (HotContact, HotContact + "@example.com"),
            _ => ("c" + contact.ToString(CultureInfo.InvariantCulture), $"c{contact}@example.com"),
        };
        return new Row(Id(at, i, 1), Id(at, i, 2), at, contactId, email, status, outcome, 20 + (i % 180));
    }

    /// <summary>
    /// A UUIDv7 for <paramref name="at"/> that is the same on every call: the attempts and their
    /// deliveries are written in separate passes on PostgreSQL, and must name the same ids.
    /// </summary>
    private static Guid Id(DateTimeOffset at, int i, byte kind)
    {
        Span<byte> bytes = stackalloc byte[16];
        var ms = at.ToUnixTimeMilliseconds();
        for (var b = 0; b < 6; b++)
        {
            bytes[b] = (byte)(ms >> (8 * (5 - b)));
        }

        bytes[6] = 0x70;
        bytes[8] = 0x80;
        bytes[9] = kind;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes[12..], i);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>Writes the rows; returns the id of the middle one (the deep cursor).</summary>
    private static async Task<Guid> SeedAsync(BenchDatabase database, Guid accountId, Guid connectionId, Guid stepId, DateTimeOffset start, int n, CancellationToken cancellationToken)
    {
        var middle = MakeRow(start, n / 2).Id;
        await using var connection = await database.OpenAsync(cancellationToken);
        if (connection is NpgsqlConnection pg)
        {
            await CopyAsync(pg, accountId, connectionId, stepId, start, n, cancellationToken);
            await CopyDeliveriesAsync(pg, accountId, connectionId, stepId, start, n, cancellationToken);
            await using var analyze = new NpgsqlCommand("ANALYZE attempts, deliveries", pg);
            await analyze.ExecuteNonQueryAsync(cancellationToken);
            return middle;
        }

        await using (var pragma = connection.CreateCommand())
        {
            // Seeding only: this connection's commits need not wait for the disk.
            pragma.CommandText = "PRAGMA synchronous = OFF";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
        }

        // The two tables' indexes are dropped for the load and built again after it from their own
        // definitions: one sorted build each is far faster than millions of inserts into each
        // b-tree, and leaves the same schema the migrations made.
        var indexes = new List<string>();
        var names = new List<string>();
        await using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('attempts', 'deliveries') AND sql IS NOT NULL";
            await using var reader = await list.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                names.Add(reader.GetString(0));
                indexes.Add(reader.GetString(1));
            }
        }

        foreach (var name in names)
        {
            await using var drop = connection.CreateCommand();
            drop.CommandText = $"DROP INDEX \"{name}\"";
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO attempts (id, account_id, connection_id, delivery_id, workflow_webhook_id, is_test, attempt_number, created_at, contact_id, email, phone, identifier,
              request_method, request_url, request_headers_json, request_body, status_code, response_headers_json, response_body, duration_ms, outcome, error)
            VALUES ($id, $account, $connection, $delivery, $step, 0, 1, $at, $contact, $email, NULL, $email, 'POST', $url, $headers, $body, $status, '{}', 'ok', $duration, $outcome, NULL)
            """;
        DbParameter Parameter(string name, object? value = null) => Add(command, name, value);

        var id = Parameter("$id");
        Parameter("$account", database.GuidValue(accountId));
        Parameter("$connection", database.GuidValue(connectionId));
        var delivery = Parameter("$delivery");
        Parameter("$step", database.GuidValue(stepId));
        var at = Parameter("$at");
        var contact = Parameter("$contact");
        var email = Parameter("$email");
        Parameter("$url", Url);
        Parameter("$headers", Headers);
        Parameter("$body", Body);
        var statusCode = Parameter("$status");
        var duration = Parameter("$duration");
        var outcomeCode = Parameter("$outcome");
        await command.PrepareAsync(cancellationToken);
        await using var deliveries = connection.CreateCommand();
        deliveries.CommandText = """
            INSERT INTO deliveries (id, account_id, connection_id, workflow_webhook_id, status, ordered, payload_json, contact_id, email, phone, identifier,
              attempt_count, next_attempt_at, first_attempt_at, last_attempt_at, last_status_code, last_outcome, created_at, updated_at, completed_at)
            VALUES ($id, $account, $connection, $step, $status, 0, $body, $contact, $email, NULL, $email, 1, $at, $at, $at, $code, $outcome, $at, $at, $at)
            """;
        DbParameter DeliveryParameter(string name, object? value = null) => Add(deliveries, name, value);

        var deliveryId = DeliveryParameter("$id");
        DeliveryParameter("$account", database.GuidValue(accountId));
        DeliveryParameter("$connection", database.GuidValue(connectionId));
        DeliveryParameter("$step", database.GuidValue(stepId));
        var deliveryStatus = DeliveryParameter("$status");
        DeliveryParameter("$body", Body);
        var deliveryContact = DeliveryParameter("$contact");
        var deliveryEmail = DeliveryParameter("$email");
        var deliveryAt = DeliveryParameter("$at");
        var deliveryCode = DeliveryParameter("$code");
        var deliveryOutcome = DeliveryParameter("$outcome");
        await deliveries.PrepareAsync(cancellationToken);
        for (var i = 0; i < n;)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            command.Transaction = transaction;
            deliveries.Transaction = transaction;
            for (var end = Math.Min(n, i + 100_000); i < end; i++)
            {
                var r = MakeRow(start, i);
                id.Value = database.GuidValue(r.Id);
                delivery.Value = database.GuidValue(r.DeliveryId);
                at.Value = database.TimeValue(r.At);
                contact.Value = r.ContactId;
                email.Value = r.Email;
                statusCode.Value = r.Status is { } s ? s : DBNull.Value;
                duration.Value = r.DurationMs;
                outcomeCode.Value = r.Outcome;
                await command.ExecuteNonQueryAsync(cancellationToken);
                deliveryId.Value = delivery.Value;
                deliveryStatus.Value = r.DeliveryStatus;
                deliveryContact.Value = r.ContactId;
                deliveryEmail.Value = r.Email;
                deliveryAt.Value = at.Value;
                deliveryCode.Value = statusCode.Value;
                deliveryOutcome.Value = r.Outcome;
                await deliveries.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var definition in indexes)
        {
            await using var create = connection.CreateCommand();
            create.CommandText = definition;
            create.CommandTimeout = 600;
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var analyzeSqlite = connection.CreateCommand();
        analyzeSqlite.CommandText = "ANALYZE";
        await analyzeSqlite.ExecuteNonQueryAsync(cancellationToken);
        return middle;
    }

    private static DbParameter Add(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        command.Parameters.Add(p);
        return p;
    }

    /// <summary>PostgreSQL: binary COPY, the fastest way in; the copy must be finished before the connection runs anything else.</summary>
    private static async Task CopyAsync(NpgsqlConnection pg, Guid accountId, Guid connectionId, Guid stepId, DateTimeOffset start, int n, CancellationToken cancellationToken)
    {
        await using var copy = await pg.BeginBinaryImportAsync(
            "COPY attempts (id, account_id, connection_id, delivery_id, workflow_webhook_id, is_test, attempt_number, created_at, contact_id, email, phone, identifier, request_method, request_url, request_headers_json, request_body, status_code, response_headers_json, response_body, duration_ms, outcome, error) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        for (var i = 0; i < n; i++)
        {
            var r = MakeRow(start, i);
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(r.Id, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(accountId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(connectionId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(r.DeliveryId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(stepId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken);
            await copy.WriteAsync(1, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(r.At, NpgsqlDbType.TimestampTz, cancellationToken);
            await copy.WriteAsync(r.ContactId, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(r.Email, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteNullAsync(cancellationToken);
            await copy.WriteAsync(r.Email, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync("POST", NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(Url, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(Headers, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(Body, NpgsqlDbType.Text, cancellationToken);
            await WriteStatusAsync(copy, r.Status, cancellationToken);

            await copy.WriteAsync("{}", NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync("ok", NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(r.DurationMs, NpgsqlDbType.Integer, cancellationToken);
            await copy.WriteAsync(r.Outcome, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteNullAsync(cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    private static Task WriteStatusAsync(NpgsqlBinaryImporter copy, int? status, CancellationToken cancellationToken) =>
        status is { } code ? copy.WriteAsync(code, NpgsqlDbType.Integer, cancellationToken) : copy.WriteNullAsync(cancellationToken);

    /// <summary>PostgreSQL: each attempt's delivery, as <see cref="CopyAsync"/> writes the attempts.</summary>
    private static async Task CopyDeliveriesAsync(NpgsqlConnection pg, Guid accountId, Guid connectionId, Guid stepId, DateTimeOffset start, int n, CancellationToken cancellationToken)
    {
        await using var copy = await pg.BeginBinaryImportAsync(
            "COPY deliveries (id, account_id, connection_id, workflow_webhook_id, status, ordered, payload_json, contact_id, email, identifier, attempt_count, next_attempt_at, first_attempt_at, last_attempt_at, last_status_code, last_outcome, created_at, updated_at, completed_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken);
        for (var i = 0; i < n; i++)
        {
            var r = MakeRow(start, i);
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(r.DeliveryId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(accountId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(connectionId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(stepId, NpgsqlDbType.Uuid, cancellationToken);
            await copy.WriteAsync(r.DeliveryStatus, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken);
            await copy.WriteAsync(Body, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(r.ContactId, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(r.Email, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(r.Email, NpgsqlDbType.Varchar, cancellationToken);
            await copy.WriteAsync(1, NpgsqlDbType.Integer, cancellationToken);
            for (var t = 0; t < 3; t++)
            {
                await copy.WriteAsync(r.At, NpgsqlDbType.TimestampTz, cancellationToken);
            }

            await WriteStatusAsync(copy, r.Status, cancellationToken);

            await copy.WriteAsync(r.Outcome, NpgsqlDbType.Varchar, cancellationToken);
            for (var t = 0; t < 3; t++)
            {
                await copy.WriteAsync(r.At, NpgsqlDbType.TimestampTz, cancellationToken);
            }
        }

        await copy.CompleteAsync(cancellationToken);
    }
}
