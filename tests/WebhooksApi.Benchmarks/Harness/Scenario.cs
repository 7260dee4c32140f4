namespace WebhooksApi.Benchmarks.Harness;

/// <summary>One benchmark: what it measures, and its sizes.</summary>
internal abstract class Scenario
{
    public abstract string Name { get; }

    /// <summary>What --n counts for this scenario.</summary>
    public abstract string Unit { get; }

    /// <summary>The size the issue asks for (run alone).</summary>
    public abstract int DefaultN { get; }

    /// <summary>The size `all` uses, so that every scenario three times fits in 5 minutes on 2 cores.</summary>
    public abstract int AllN { get; }

    public abstract Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken);
}
