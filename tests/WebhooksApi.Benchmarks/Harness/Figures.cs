namespace WebhooksApi.Benchmarks.Harness;

/// <summary>How a figure is judged against its target.</summary>
internal enum Goal
{
    None,
    AtLeast,
    Below,
}

/// <summary>One measured number of one run.</summary>
internal sealed record Figure(string Name, double Value, string Unit, Goal Goal = Goal.None, double? Target = null)
{
    public bool? Met => Target is not { } target ? null : Goal switch
    {
        Goal.AtLeast => Value >= target,
        Goal.Below => Value < target,
        _ => null,
    };
}

/// <summary>The figures of one run, in the order they are printed.</summary>
internal sealed class RunFigures
{
    public List<Figure> Items { get; } = [];

    public RunFigures Add(string name, double value, string unit, Goal goal = Goal.None, double? target = null)
    {
        Items.Add(new Figure(name, value, unit, goal, target));
        return this;
    }
}

internal static class Stats
{
    /// <summary>Nearest-rank percentile of an unsorted sample (0 for an empty one).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyList<double> values) => values.Count == 0 ? 0 : Percentile(values, 50);
}
