namespace WebhooksApi.ReliabilityTests;

/// <summary>
/// The crash tests run one at a time: each starts a real service process and drives thousands of
/// deliveries, and the machine's cores are shared.
/// </summary>
[CollectionDefinition(nameof(CrashCollection), DisableParallelization = true)]
public sealed class CrashCollection;
