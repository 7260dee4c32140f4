using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>One request as the receiver got it.</summary>
public sealed record ReceivedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => System.Text.Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
}

/// <summary>
/// A real HTTP server on 127.0.0.1 that records what arrives. Each test takes its own path
/// (<see cref="NewEndpoint"/>) and may script the answer; assertions are on what arrived.
/// </summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ReceivedRequest>> _received = new();
    private readonly ConcurrentDictionary<string, Func<HttpContext, Task>> _handlers = new();

    private Receiver(WebApplication app, string baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }

    public static async Task<Receiver> StartAsync(bool https = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (https)
            {
                listen.UseHttps(SelfSignedCertificate());
            }
        }));
        var app = builder.Build();
        Receiver? receiver = null;
        app.Run(async context => await receiver!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver = new Receiver(app, address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return receiver;
    }

    /// <summary>A fresh path on this receiver, answering with <paramref name="handler"/> (default: 200 "{}").</summary>
    public string NewEndpoint(Func<HttpContext, Task>? handler = null)
    {
        var path = "/hooks/" + Guid.NewGuid().ToString("N");
        _handlers[path] = handler ?? (ctx => ctx.Response.WriteAsync("{\"ok\":true}"));
        return BaseUrl + path;
    }

    public IReadOnlyList<ReceivedRequest> Received(string url)
    {
        var path = new Uri(url).AbsolutePath;
        return _received.TryGetValue(path, out var queue) ? queue.ToList() : [];
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var path = context.Request.Path.Value ?? "/";
        // Scripted handlers may read the body too.
        context.Request.Body = new MemoryStream(buffer.ToArray());
        _received.GetOrAdd(path, _ => new ConcurrentQueue<ReceivedRequest>())
            .Enqueue(new ReceivedRequest(context.Request.Method, path, context.Request.QueryString.Value ?? string.Empty, headers, buffer.ToArray()));
        if (_handlers.TryGetValue(path, out var handler))
        {
            await handler(context);
        }
        else
        {
            context.Response.StatusCode = 404;
        }
    }

    private static X509Certificate2 SelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=untrusted.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
