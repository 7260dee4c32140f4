using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;

namespace WebhooksApi.Security;

/// <summary>
/// A <see cref="SocketsHttpHandler.ConnectCallback"/> that applies <see cref="UrlPolicy"/> to the
/// address actually dialled, so a host that passed the save-time check and later resolves to an
/// internal address (DNS rebinding) is still refused. Use it as
/// <c>handler.ConnectCallback = ssrf.ConnectAsync;</c> with <c>UseProxy = false</c>, or the
/// callback would police the proxy rather than the receiver.
/// </summary>
internal sealed class SsrfSafeConnect
{
    private readonly UrlPolicy _policy;
    private readonly Func<IPEndPoint, CancellationToken, ValueTask<Stream>> _dial;

    public SsrfSafeConnect(UrlPolicy policy)
        : this(policy, DialAsync)
    {
    }

    /// <summary>For tests: replaces the socket connect so they can see which addresses would be dialled.</summary>
    internal SsrfSafeConnect(UrlPolicy policy, Func<IPEndPoint, CancellationToken, ValueTask<Stream>> dial)
    {
        _policy = policy;
        _dial = dial;
    }

    /// <summary>
    /// Resolves the host, drops forbidden addresses and dials the rest in order until one
    /// connects. Throws <see cref="UrlBlockedException"/> when no address may be dialled, lets a
    /// resolver <see cref="SocketException"/> (HostNotFound: HttpClient reports it as
    /// <see cref="HttpRequestError.NameResolutionError"/>) through, and rethrows the last
    /// connect failure when every address fails.
    /// </summary>
    public ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectToAsync(context.DnsEndPoint, cancellationToken);

    /// <summary>The body of <see cref="ConnectAsync"/>; separate because tests cannot build a <see cref="SocketsHttpConnectionContext"/>.</summary>
    internal async ValueTask<Stream> ConnectToAsync(DnsEndPoint target, CancellationToken cancellationToken)
    {
        var addresses = await _policy.ResolveForConnectAsync(target.Host, cancellationToken);

        SocketException? lastFailure = null;
        foreach (var address in addresses)
        {
            // A plain IPv4 socket for mapped addresses works even where IPv6 is disabled.
            var dialled = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            try
            {
                return await _dial(new IPEndPoint(dialled, target.Port), cancellationToken);
            }
            catch (SocketException ex) when (!cancellationToken.IsCancellationRequested)
            {
                lastFailure = ex;
            }
        }

        // ResolveForConnectAsync never returns an empty list, so at least one dial failed.
        ExceptionDispatchInfo.Throw(lastFailure!);
        return null;
    }

    private static async ValueTask<Stream> DialAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>
/// Thrown from the connect callback when the policy refuses every address of the host; the
/// delivery code finds it in the <see cref="HttpRequestException"/> chain and records
/// <c>url_blocked</c>.
/// </summary>
internal sealed class UrlBlockedException : Exception
{
    public UrlBlockedException(string reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    /// <summary>One of <see cref="UrlCheckReasons"/>.</summary>
    public string Reason { get; }
}
