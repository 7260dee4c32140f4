using System.Text;

namespace WebhooksApi.Templates;

/// <summary>
/// The limits of one render, reachable from the iterators, formatters and helpers that Handlebars
/// calls. Handlebars renders synchronously on the calling thread and gives those callbacks no
/// per-render state of ours, so the budget is thread-static: set for the duration of one render
/// and cleared after it. One instance (and its output buffer) is reused per thread, which keeps a
/// render down to the allocations Handlebars makes plus the result string.
/// </summary>
internal sealed class RenderBudget
{
    [ThreadStatic]
    private static RenderBudget? current;

    [ThreadStatic]
    private static RenderBudget? spare;

    private TemplateLimits limits = TemplateLimits.Default;
    private CancellationToken cancellationToken;
    private int iterations;
    private long helperChars;
    private RenderBudget? previous;

    private RenderBudget() => Writer = new LimitedWriter(this);

    /// <summary>The render running on this thread, or null outside <see cref="TemplateRenderer.Render(CompiledTemplate, TemplateModel, CancellationToken)"/>.</summary>
    public static RenderBudget? Current => current;

    public LimitedWriter Writer { get; }

    public static RenderBudget Start(TemplateLimits limits, CancellationToken cancellationToken)
    {
        // A render never starts another on the same thread; if that ever changed, the inner one
        // simply gets a fresh budget instead of corrupting the outer one's buffer.
        var budget = current is null && spare is not null ? spare : new RenderBudget();
        spare = null;
        budget.limits = limits;
        budget.cancellationToken = cancellationToken;
        budget.iterations = 0;
        budget.helperChars = 0;
        budget.Writer.Reset();
        budget.previous = current;
        current = budget;
        return budget;
    }

    public void End()
    {
        current = previous;
        previous = null;
        cancellationToken = default;
        if (Writer.Trim())
        {
            spare = this;
        }
    }

    /// <summary>Called once per loop iteration, before its body renders.</summary>
    public void Iteration()
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (++iterations > limits.MaxIterations)
        {
            throw new TemplateException(TemplateErrorKind.Render, $"The template loops more than {limits.MaxIterations} times in one render.");
        }
    }

    /// <summary>Called with the length of every helper result and every printed object.</summary>
    public void HelperOutput(int chars)
    {
        cancellationToken.ThrowIfCancellationRequested();
        helperChars += chars;
        if (helperChars > limits.MaxHelperChars)
        {
            throw new TemplateException(TemplateErrorKind.Render, $"The template's helpers produce more than {limits.MaxHelperChars} characters in one render.");
        }
    }

    internal void Wrote(int total)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (total > limits.MaxOutputChars)
        {
            throw new TemplateException(TemplateErrorKind.Render, $"The rendered output is longer than {limits.MaxOutputChars} characters.");
        }
    }
}

/// <summary>The render's output: a reusable buffer that refuses to grow past the output limit.</summary>
internal sealed class LimitedWriter(RenderBudget budget) : TextWriter
{
    private const int KeptCapacity = 64 * 1024;
    private readonly StringBuilder buffer = new(1024);

    public override Encoding Encoding => Encoding.Unicode;

    public override void Write(char value)
    {
        budget.Wrote(buffer.Length + 1);
        buffer.Append(value);
    }

    public override void Write(string? value)
    {
        if (value is null)
        {
            return;
        }

        budget.Wrote(buffer.Length + value.Length);
        buffer.Append(value);
    }

    public override void Write(ReadOnlySpan<char> buffer)
    {
        budget.Wrote(this.buffer.Length + buffer.Length);
        this.buffer.Append(buffer);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        budget.Wrote(this.buffer.Length + count);
        this.buffer.Append(buffer, index, count);
    }

    public override void Write(StringBuilder? value)
    {
        if (value is null)
        {
            return;
        }

        budget.Wrote(buffer.Length + value.Length);
        buffer.Append(value);
    }

    public override string ToString() => buffer.ToString();

    internal void Reset() => buffer.Clear();

    /// <summary>Drops the content; false when the buffer grew too big to keep for the next render.</summary>
    internal bool Trim()
    {
        buffer.Clear();
        return buffer.Capacity <= KeptCapacity;
    }
}
