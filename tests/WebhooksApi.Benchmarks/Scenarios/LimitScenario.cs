using WebhooksApi.Benchmarks.Harness;

namespace WebhooksApi.Benchmarks.Scenarios;

/// <summary>1. The machine's own HTTP limit: a bare HttpClient to the same receiver, same body, same concurrency.</summary>
internal sealed class LimitScenario : Scenario
{
    public override string Name => "limit";

    public override string Unit => "requests";

    public override int DefaultN => 50_000;

    public override int AllN => 20_000;

    public override async Task<RunFigures> RunAsync(string provider, int n, CancellationToken cancellationToken)
    {
        await using var receiver = await BenchReceiver.StartAsync(cancellationToken);
        var rate = await LimitProbe.RequestsPerSecondAsync(new Uri(receiver.Url("/limit")), n, cancellationToken);
        return new RunFigures().Add("requests/s", rate, "req/s");
    }
}
