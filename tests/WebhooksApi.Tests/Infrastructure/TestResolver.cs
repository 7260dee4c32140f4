using System.Net;
using System.Net.Sockets;
using WebhooksApi.Security;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>
/// DNS for the apps under test: a fixed table, so no test ever asks a real resolver (this
/// machine has no outside network) and rebinding scenarios are scripted.
/// </summary>
internal sealed class TestResolver : IHostResolver
{
    public static readonly Dictionary<string, IPAddress[]> Table = new(StringComparer.OrdinalIgnoreCase)
    {
        ["localhost"] = [IPAddress.Loopback],
        ["receiver.test"] = [IPAddress.Loopback],
        ["internal.test"] = [IPAddress.Parse("10.1.2.3")],
        ["metadata.test"] = [IPAddress.Parse("169.254.169.254")],
        ["mapped.test"] = [IPAddress.Parse("::ffff:192.168.1.1")],
        ["mixed.test"] = [IPAddress.Parse("93.184.216.34"), IPAddress.Parse("127.0.0.1")],
        ["public.test"] = [IPAddress.Parse("93.184.216.34")],
    };

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Table.TryGetValue(host.TrimEnd('.'), out var addresses)
            ? Task.FromResult(addresses)
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
}
