using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using WebhooksApi.Security;

namespace WebhooksApi.Delivery;

/// <summary>A request ready to go: rendered, authenticated and signed.</summary>
internal sealed record OutgoingRequest(
    string Method,
    Uri Url,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    byte[]? Body,
    string? ContentType,
    TimeSpan Timeout);

/// <summary>What came back (or why nothing did).</summary>
internal sealed record SendResult(
    string Outcome,
    int? StatusCode,
    IReadOnlyDictionary<string, string>? ResponseHeaders,
    string? ResponseBody,
    bool ResponseTruncated,
    int DurationMs,
    string? Error,
    TimeSpan? RetryAfter);

/// <summary>
/// Sends webhook requests through one pooled handler whose connect step enforces the URL policy
/// on the address actually dialled. Redirects are not followed (a 3xx is a failed attempt: a
/// receiver could otherwise bounce us to an internal address), response bodies are read up to a
/// cap and the rest is dropped, and every failure is classified into an outcome code.
/// </summary>
internal sealed class WebhookSender(HttpClient client)
{
    public const string ClientName = "webhooks";
    public const int MaxResponseBodyBytes = 64 * 1024;

    public static SocketsHttpHandler CreateHandler(SsrfSafeConnect ssrf) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectCallback = ssrf.ConnectAsync,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        MaxConnectionsPerServer = 512,
        MaxResponseHeadersLength = 64,
        EnableMultipleHttp2Connections = true,
        // Header values come from contact data ("José" in X-Name): without this, any character
        // beyond ASCII made HttpClient refuse the request, recorded as a connection_error and
        // retried ten times. Sent as UTF-8, what receivers in practice expect.
        RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8,
        // No W3C traceparent/tracestate on requests to third parties: our trace ids are internal,
        // and a receiver gets exactly the headers the connection defines plus the signature ones.
        ActivityHeadersPropagator = null,
    };

    public async Task<SendResult> SendAsync(OutgoingRequest request, bool expectJson, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Url);
        if (request.Body is not null)
        {
            message.Content = new ByteArrayContent(request.Body);
            if (request.ContentType is not null)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
            }
        }

        foreach (var (name, value) in request.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        // Durations are measurements of real elapsed time; the network does not run on a test clock.
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(request.Timeout);
        try
        {
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var headers = ResponseHeaders(response);
            var status = (int)response.StatusCode;
            string? body;
            bool truncated;
            try
            {
                (body, truncated) = await ReadCappedAsync(response, timeout.Token);
            }
            catch (IOException e)
            {
                // A receiver that resets the connection halfway through its body surfaces here as
                // HttpIOException, not HttpRequestException: without this the attempt was never
                // recorded and the delivery sat in `delivering` until its lease ran out.
                return new SendResult(Outcomes.ConnectionError, status, headers, null, false, Elapsed(started), $"The endpoint answered {status} but the connection broke while its body was read: {e.Message}", null);
            }

            var elapsed = Elapsed(started);
            var retryAfter = status is 429 or 503 ? RetryAfterOf(response) : null;
            if (status is < 200 or > 299)
            {
                return new SendResult(Outcomes.HttpError, status, headers, body, truncated, elapsed, $"The endpoint answered {status} {response.ReasonPhrase}.", retryAfter);
            }

            if (expectJson && !IsJson(body, truncated))
            {
                return new SendResult(Outcomes.InvalidResponseFormat, status, headers, body, truncated, elapsed, "The connection expects a JSON response and the body is not valid JSON.", null);
            }

            return new SendResult(Outcomes.Ok, status, headers, body, truncated, elapsed, null, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failure(Outcomes.Timeout, started, $"No complete answer within {request.Timeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException e)
        {
            return Classify(e, started);
        }
        catch (UrlBlockedException e)
        {
            return Failure(Outcomes.UrlBlocked, started, e.Message);
        }
    }

    private static SendResult Classify(HttpRequestException exception, long started)
    {
        for (Exception? inner = exception; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case UrlBlockedException blocked:
                    return Failure(Outcomes.UrlBlocked, started, blocked.Message);
                case AuthenticationException:
                    return Failure(Outcomes.TlsFailure, started, $"TLS handshake failed: {inner.Message}");
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return Failure(Outcomes.ConnectionRefused, started, "The endpoint refused the connection.");
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain }:
                    return Failure(Outcomes.DnsFailure, started, $"The host name could not be resolved: {inner.Message}");
            }
        }

        return exception.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => Failure(Outcomes.DnsFailure, started, "The host name could not be resolved."),
            HttpRequestError.SecureConnectionError => Failure(Outcomes.TlsFailure, started, $"TLS handshake failed: {exception.Message}"),
            _ => Failure(Outcomes.ConnectionError, started, exception.Message),
        };
    }

    private static SendResult Failure(string outcome, long started, string error) =>
        new(outcome, null, null, null, false, Elapsed(started), error, null);

    private static int Elapsed(long started) => (int)Math.Min(int.MaxValue, Stopwatch.GetElapsedTime(started).TotalMilliseconds);

    /// <summary>Reads at most the cap; a 50 MB answer costs 64 KiB and the connection is dropped.</summary>
    private static async Task<(string? Body, bool Truncated)> ReadCappedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        // Pooled: a fresh 64 KiB buffer per response (zeroed, mostly to hold "OK") was most of
        // the ~110 KB allocated per delivery in a drain, and GC pauses took 8% of its wall time.
        var buffer = ArrayPool<byte>.Shared.Rent(MaxResponseBodyBytes + 1);
        try
        {
            var total = 0;
            int read;
            while (total <= MaxResponseBodyBytes && (read = await stream.ReadAsync(buffer.AsMemory(total, MaxResponseBodyBytes + 1 - total), cancellationToken)) > 0)
            {
                total += read;
            }

            var truncated = total > MaxResponseBodyBytes;
            var length = Math.Min(total, MaxResponseBodyBytes);
            return (length == 0 ? string.Empty : Encoding.UTF8.GetString(buffer, 0, length), truncated);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Dictionary<string, string> ResponseHeaders(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (headers.Count >= 100)
            {
                break;
            }

            var value = string.Join(", ", values);
            headers[name] = value.Length > 2000 ? value[..2000] : value;
        }

        return headers;
    }

    private static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is { } date && response.Headers.Date is { } now)
        {
            return date - now > TimeSpan.Zero ? date - now : TimeSpan.Zero;
        }

        return null;
    }

    private static bool IsJson(string? body, bool truncated)
    {
        if (string.IsNullOrWhiteSpace(body) || truncated)
        {
            return false;
        }

        try
        {
            using var _ = JsonDocument.Parse(body);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
