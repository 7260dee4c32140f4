using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>Helpers for tests that read logs, deliveries and stats.</summary>
public static class LogBuilders
{
    /// <summary>
    /// A receiver handler that answers by the contact id in the body: `s404` answers 404 (any
    /// `s` + three digits), `bad-...` answers 500, anything else (and test sends) 200.
    /// </summary>
    public static readonly Func<HttpContext, Task> StatusByContact = async ctx =>
    {
        using var reader = new StreamReader(ctx.Request.Body);
        var text = await reader.ReadToEndAsync();
        var id = string.Empty;
        try
        {
            if (JsonDocument.Parse(text).RootElement.GetProperty("data").GetProperty("contact").TryGetProperty("id", out var value))
            {
                id = value.ToString();
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }

        if (id.Length == 4 && id[0] == 's' && int.TryParse(id[1..], out var status))
        {
            ctx.Response.StatusCode = status;
        }
        else if (id.StartsWith("bad", StringComparison.Ordinal))
        {
            ctx.Response.StatusCode = 500;
        }
        else
        {
            await ctx.Response.WriteAsync("{\"received\":true}");
        }
    };

    /// <summary>Waits until the delivery has made <paramref name="attempts"/> attempts and is not mid-request.</summary>
    public static Task<JsonElement> AttemptedAsync(this WorkflowStep step, string id, int attempts = 1) =>
        Eventually.WaitAsync(() => step.DeliveryAsync(id), d => d.GetProperty("attempts").GetInt32() >= attempts && d.Str("status") != "delivering", $"{id}: attempt {attempts}");

    /// <summary>Executes one item per contact and waits until each has had its first attempt (or was held or skipped).</summary>
    public static async Task<List<string>> ExecuteAndSettleAsync(this WorkflowStep step, params object[] contacts)
    {
        var accepted = await step.ExecuteAsync(new { items = contacts.Select(c => new { contact = c }).ToArray() });
        var ids = accepted.GetProperty("items").EnumerateArray().Select(i => i.Id()).ToList();
        foreach (var id in ids)
        {
            await Eventually.WaitAsync(() => step.DeliveryAsync(id),
                d => d.Str("status") is "held" or "skipped" || (d.GetProperty("attempts").GetInt32() >= 1 && d.Str("status") != "delivering"), $"{id} settled");
        }

        return ids;
    }

    /// <summary>A second workflow step on an existing connection.</summary>
    public static async Task<WorkflowStep> AddStepAsync(this WorkflowStep step, string name = "second_step")
    {
        var body = new { name, workflowId = "wf-" + Guid.NewGuid().ToString("N")[..8], stepId = "s2", connectionId = step.ConnectionId };
        var created = await (await step.Admin.PostJsonAsync("/v1/workflow-webhooks", body)).ReadJsonAsync(HttpStatusCode.Created);
        return step with { StepId = created.Id() };
    }

    /// <summary>Every item of a list, following nextCursor.</summary>
    public static async Task<List<JsonElement>> AllPagesAsync(this HttpClient client, string url, int limit = 500)
    {
        var items = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var separator = url.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            var page = await client.GetJsonAsync($"{url}{separator}limit={limit}" + (cursor is null ? string.Empty : $"&cursor={cursor}"));
            items.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.Clone()));
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.Null ? null : page.Str("nextCursor");
        }
        while (cursor is not null);

        return items;
    }

    /// <summary>
    /// Moves the app's clock and wakes the dispatcher. Without the wake, a dispatcher that was
    /// between a claim (on the old time) and its next poll timer (started on the new time)
    /// would wait for a poll interval the test clock never reaches, and due retries would stall.
    /// </summary>
    public static void AdvanceAndWake(this ApiFixture fixture, TimeSpan by)
    {
        fixture.Time.Advance(by);
        fixture.Factory.Services.GetRequiredService<WebhooksApi.Delivery.DeliverySignals>().WorkAvailable();
    }

    /// <summary>An ISO 8601 time for a query string.</summary>
    public static string Q(DateTimeOffset time) => Uri.EscapeDataString(time.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
}
