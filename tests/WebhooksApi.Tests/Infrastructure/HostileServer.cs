using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>One HTTP/1.1 request as the hostile server parsed it off the wire.</summary>
public sealed record RawRequest(string Method, string Target, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The connection's test send (POST /v1/connections/{id}/test) rather than a delivery.</summary>
    public bool IsTestSend => Body.Contains("\"webhook.test\"", StringComparison.Ordinal);
}

/// <summary>What a behaviour gets: the parsed request and the raw socket to misbehave on.</summary>
public sealed class HostileExchange(HostileServer server, RawRequest request, Socket socket, NetworkStream stream, CancellationToken stopping)
{
    public RawRequest Request { get; } = request;

    public NetworkStream Stream { get; } = stream;

    /// <summary>Cancelled when the server is disposed; every wait in a behaviour is bounded by it.</summary>
    public CancellationToken Stopping { get; } = stopping;

    public Task WriteAsync(string text) => Stream.WriteAsync(Encoding.ASCII.GetBytes(text), Stopping).AsTask();

    /// <summary>A complete, well-formed answer; the connection is closed after it.</summary>
    public Task AnswerAsync(int status, string body = "{}", string extraHeaders = "") =>
        WriteAsync($"HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n{extraHeaders}\r\n{body}");

    /// <summary>
    /// Waits, answering nothing, until the client gives up and closes its end (or the server stops).
    /// Returns true when the client closed: proof that the sender let go of the request.
    /// </summary>
    public async Task<bool> HangUntilClientClosesAsync()
    {
        var buffer = new byte[256];
        try
        {
            while (await Stream.ReadAsync(buffer, Stopping) > 0)
            {
            }
        }
        catch (IOException)
        {
            // A reset is a hang-up too.
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        server.CountClientClose();
        return true;
    }

    /// <summary>Aborts the TCP connection with an RST (linger 0) instead of a graceful FIN.</summary>
    public void Reset()
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }
}

/// <summary>
/// A raw TCP "HTTP" server on 127.0.0.1 for receivers Kestrel will not imitate: ones that never
/// answer, answer a byte a second, or reset the connection halfway through a response. Each
/// connection carries one request; the behaviour decides what (if anything) goes back.
/// </summary>
public sealed class HostileServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<HostileExchange, Task> _behaviour;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<RawRequest> _received = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _acceptLoop;
    private int _open;
    private int _accepted;
    private int _closedByClient;

    private HostileServer(Func<HostileExchange, Task> behaviour)
    {
        _behaviour = behaviour;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(512);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public static HostileServer Start(Func<HostileExchange, Task> behaviour) => new(behaviour);

    /// <summary>
    /// A server whose connection test is answered 200 (so the connection can be activated) and
    /// whose every other request meets <paramref name="hostile"/>.
    /// </summary>
    public static HostileServer TestOkThen(Func<HostileExchange, Task> hostile) =>
        new(exchange => exchange.Request.IsTestSend ? exchange.AnswerAsync(200) : hostile(exchange));

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Url => $"http://127.0.0.1:{Port}/hook";

    public IReadOnlyList<RawRequest> Received => [.. _received];

    /// <summary>Requests that were not test sends.</summary>
    public IReadOnlyList<RawRequest> Deliveries => [.. _received.Where(r => !r.IsTestSend)];

    /// <summary>TCP connections ever accepted, whether or not a request followed.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Connections still open right now.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Hanging exchanges that ended because the client hung up.</summary>
    public int ClosedByClient => Volatile.Read(ref _closedByClient);

    internal void CountClientClose() => Interlocked.Increment(ref _closedByClient);

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _connections.Add(Task.Run(() => ServeAsync(socket)));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        Interlocked.Increment(ref _open);
        try
        {
            using var _ = socket;
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var request = await ReadRequestAsync(stream, _stopping.Token);
            if (request is null)
            {
                return;
            }

            _received.Enqueue(request);
            await _behaviour(new HostileExchange(this, request, socket, stream, _stopping.Token));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client hung up or the server is stopping: exactly what hostile behaviours provoke.
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private static async Task<RawRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>(4096);
        var chunk = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(buffer)) < 0)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken);
            if (read == 0 || buffer.Count > 1024 * 1024)
            {
                return null;
            }

            buffer.AddRange(chunk.AsSpan(0, read));
        }

        var head = Encoding.UTF8.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var before) ? before + ", " + value : value;
            }
        }

        var length = headers.TryGetValue("Content-Length", out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
        var body = buffer.Skip(headerEnd + 4).ToList();
        while (body.Count < length)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            body.AddRange(chunk.AsSpan(0, read));
        }

        return new RawRequest(requestLine[0], requestLine.Length > 1 ? requestLine[1] : "/", headers, Encoding.UTF8.GetString([.. body]));
    }

    private static int IndexOfHeaderEnd(List<byte> buffer)
    {
        for (var i = 3; i < buffer.Count; i++)
        {
            if (buffer[i - 3] == '\r' && buffer[i - 2] == '\n' && buffer[i - 1] == '\r' && buffer[i] == '\n')
            {
                return i - 3;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        await Task.WhenAll(_connections);
        _stopping.Dispose();
    }
}
