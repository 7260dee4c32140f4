using System.Diagnostics;

namespace WebhooksApi.Benchmarks.Harness;

/// <summary>
/// Counts the SQL commands EF Core executes in this process (from its DiagnosticListener), so a
/// scenario can report database round trips per delivery: unlike time, that figure does not
/// change with the machine's other load.
/// </summary>
internal sealed class CommandCounter : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private static long _count;
    private static CommandCounter? _instance;
    private readonly IDisposable _subscription;

    private CommandCounter() => _subscription = DiagnosticListener.AllListeners.Subscribe(this);

    /// <summary>EF's commands plus the statements the service runs below EF (RawStatements, HotQueries on SQLite).</summary>
    public static long Count => Interlocked.Read(ref _count) + WebhooksApi.Persistence.RawStatements.Executed + WebhooksApi.Persistence.HotQueries.Executed;

    /// <summary>Starts counting for the rest of the process (idempotent).</summary>
    public static void EnsureStarted() => _instance ??= new CommandCounter();

    public void OnNext(DiagnosticListener value)
    {
        if (value.Name == "Microsoft.EntityFrameworkCore")
        {
            value.Subscribe(this, name => name == "Microsoft.EntityFrameworkCore.Database.Command.CommandExecuted");
        }
    }

    public void OnNext(KeyValuePair<string, object?> value) => Interlocked.Increment(ref _count);

    public void OnCompleted()
    {
    }

    public void OnError(Exception error)
    {
    }

    public void Dispose() => _subscription.Dispose();
}
