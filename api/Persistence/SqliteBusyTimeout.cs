using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace WebhooksApi.Persistence;

/// <summary>
/// Makes a connection that finds the database locked wait for the lock inside SQLite instead of
/// failing at once. Without it a writer that finds the database locked (the API committing
/// executions while the dispatcher claims and records results) gets SQLITE_BUSY at once, and
/// Microsoft.Data.Sqlite retries the statement after sleeping 150 ms: the benchmark's throughput
/// scenario spent its time in that Thread.Sleep (80 deliveries/s).
/// <para>
/// The wait is a busy handler that tries again every millisecond, until the connection's
/// timeout. SQLite's own (PRAGMA busy_timeout) backs off in steps of 1, 2, 5, 10, 15, 20, 25 ... 100
/// ms and does not wake when the lock is freed, so a writer that waited a few milliseconds slept
/// through several of the other writers' short transactions: the latency benchmark (1,000 single
/// executions/s) counted 160 such sleeps a second, and its accepted -> receiver p99 went from
/// 387-854 ms to 105-174 ms with the finer handler (3 runs each, same build otherwise).
/// Where the handler cannot be installed (a SQLite library without the e_sqlite3 export) the
/// PRAGMA is the fallback.
/// </para>
/// </summary>
internal sealed class SqliteBusyTimeout : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Native connections that have their timeout. Microsoft.Data.Sqlite pools the native
    /// handle, and a PRAGMA lasts as long as it does: setting it once per handle instead of on
    /// every open saves a statement and a connection-string parse on each of the several opens a
    /// request makes (2.7% of the process's CPU in the latency benchmark's profile).
    /// </summary>
    private static readonly ConditionalWeakTable<object, object> Applied = [];

    internal static void Apply(DbConnection connection)
    {
        if (connection is not SqliteConnection { Handle: { } handle } sqlite || Applied.TryGetValue(handle, out _))
        {
            return;
        }

        var milliseconds = Math.Max(1, new SqliteConnectionStringBuilder(sqlite.ConnectionString).DefaultTimeout) * 1000;
        if (!BusyHandler.TryInstall(handle.DangerousGetHandle(), milliseconds))
        {
            using var command = sqlite.CreateCommand();
            command.CommandText = $"PRAGMA busy_timeout = {milliseconds};";
            command.ExecuteNonQuery();
        }

        SqliteCheckpointer.Attach(sqlite, handle.DangerousGetHandle());
        Applied.AddOrUpdate(handle, handle);
    }

    /// <summary>SQLite's <c>sqlite3_busy_handler</c>, which SQLitePCLRaw does not expose.</summary>
    internal static class BusyHandler
    {
        /// <summary>Microsoft.Data.Sqlite's default command timeout, for connections this code does not open (Quartz's store).</summary>
        private const int DefaultTimeoutMilliseconds = 30_000;

        private static readonly Callback OnBusyDelegate = OnBusy;
        private static readonly EntryPoint OnOpenDelegate = OnOpen;
        private static volatile bool _unavailable;
        private static int _everyConnection;
        private static long _waits;

        [ThreadStatic]
        private static long _waitingSince;

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int Callback(nint timeoutMilliseconds, int count);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int EntryPoint(nint database, nint errorMessage, nint api);

        /// <summary>Times a connection found the database locked and waited (diagnostics and tests).</summary>
        public static long Waits => Interlocked.Read(ref _waits);

        /// <summary>
        /// Installs the handler on every SQLite connection the process opens from now on, whoever
        /// opens it (SQLite's auto-extension hook). Quartz's store opens its own connections: left
        /// with Microsoft.Data.Sqlite's retry every 150 ms, it found the lock free ever more rarely
        /// once this process's writers retried every millisecond (a probe writer retrying that
        /// way waited p50 2.7 s, max 6.8 s under the throughput benchmark, against 0.9 / 2.7 s
        /// before the handler). Connections the context opens get their own timeout in Apply.
        /// </summary>
        public static void InstallOnEveryConnection()
        {
            if (_unavailable || Interlocked.Exchange(ref _everyConnection, 1) == 1)
            {
                return;
            }

            try
            {
                _ = sqlite3_auto_extension(Marshal.GetFunctionPointerForDelegate(OnOpenDelegate));
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                _unavailable = true;
            }
        }

        /// <summary>Installs the handler on the native connection; false where the SQLite library lacks it.</summary>
        public static bool TryInstall(nint database, int timeoutMilliseconds)
        {
            if (_unavailable)
            {
                return false;
            }

            try
            {
                return sqlite3_busy_handler(database, OnBusyDelegate, timeoutMilliseconds) == 0;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                _unavailable = true;
                return false;
            }
        }

        /// <summary>
        /// Called by SQLite on the waiting thread, count 0 on the first try of each wait: 1 waits
        /// another millisecond and tries again, 0 gives up (the statement fails with SQLITE_BUSY).
        /// </summary>
        private static int OnBusy(nint timeoutMilliseconds, int count)
        {
            if (count == 0)
            {
                _waitingSince = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref _waits);
            }
            else if (Stopwatch.GetElapsedTime(_waitingSince).TotalMilliseconds >= timeoutMilliseconds)
            {
                return 0;
            }

            Thread.Sleep(1);
            return 1;
        }

        private static int OnOpen(nint database, nint errorMessage, nint api)
        {
            _ = sqlite3_busy_handler(database, OnBusyDelegate, DefaultTimeoutMilliseconds);
            return 0;
        }

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern int sqlite3_busy_handler(nint database, Callback callback, nint timeoutMilliseconds);

        [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl)]
        private static extern int sqlite3_auto_extension(nint entryPoint);
    }
}
