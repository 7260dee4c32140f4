using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace WebhooksApi.ReliabilityTests.Infrastructure;

/// <summary>
/// A real Kestrel receiver on 127.0.0.1 and a fixed port, recording the `webhook-id` of every
/// request and the contact id in its body (the connection's template sends `{"contactId": ...}`).
/// It can go away (the port then refuses connections) and come back on the same port.
/// </summary>
public sealed class CountingReceiver : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _byWebhookId = new();
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _webhookIdsByContact = new();
    private WebApplication? _app;
    private long _requests;

    private CountingReceiver(int port) => Port = port;

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    /// <summary>Every request that arrived, duplicates included.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Distinct webhook-ids that arrived.</summary>
    public int Distinct => _byWebhookId.Count;

    public IReadOnlyDictionary<string, int> ByWebhookId => _byWebhookId;

    public IReadOnlyDictionary<string, ConcurrentDictionary<string, byte>> WebhookIdsByContact => _webhookIdsByContact;

    public static async Task<CountingReceiver> StartAsync()
    {
        var receiver = new CountingReceiver(Ports.Free());
        await receiver.UpAsync();
        return receiver;
    }

    /// <summary>Listens (again) on the same port.</summary>
    public async Task UpAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, Port));
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync();
        _app = app;
    }

    /// <summary>Stops listening: from now on the service's requests meet a refused connection.</summary>
    public async Task DownAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var webhookId = context.Request.Headers["webhook-id"].ToString();
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        var contactId = body.RootElement.TryGetProperty("contactId", out var c) ? c.GetString() ?? string.Empty : string.Empty;
        // The connection's test send (a sample contact) comes first; count only the executions ("c-...").
        if (contactId.StartsWith("c-", StringComparison.Ordinal))
        {
            _byWebhookId.AddOrUpdate(webhookId, 1, (_, n) => n + 1);
            _webhookIdsByContact.GetOrAdd(contactId, _ => new ConcurrentDictionary<string, byte>())[webhookId] = 0;
            Interlocked.Increment(ref _requests);
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync("{\"ok\":true}");
    }

    public async ValueTask DisposeAsync() => await DownAsync();
}
