using System.Net;
using System.Text.Json;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>An active connection with a workflow step bound to it: what most engine tests start from.</summary>
public sealed record WorkflowStep(HttpClient Admin, string ConnectionId, string StepId, string Url)
{
    public async Task<JsonElement> ExecuteAsync(object body, string query = "") =>
        await (await Admin.PostJsonAsync($"/v1/workflow-webhooks/{StepId}/executions{query}", body)).ReadJsonAsync(HttpStatusCode.Accepted);

    public Task<JsonElement> DeliveryAsync(string id) => Admin.GetJsonAsync($"/v1/deliveries/{id}");
}

public static class EngineBuilders
{
    public static async Task<WorkflowStep> ActiveStepAsync(this TestAccount account, string url, Dictionary<string, object?>? connection = null, bool activate = true, object? step = null)
    {
        var admin = account.Admin();
        var body = connection ?? Builders.Connection(url);
        body["url"] = url;
        var connectionId = (await admin.CreateConnectionAsync(body)).Id();
        if (activate)
        {
            // A test send must succeed before activation; the receiver answers it like any request.
            var test = await admin.TestConnectionAsync(connectionId);
            Assert.True(test.Str("outcome") == "ok", $"test send: {test.GetRawText()}");
            (await admin.ActionAsync(connectionId, "activate")).EnsureSuccessStatusCode();
        }

        var stepBody = step ?? new { name = "call_crm", workflowId = "wf-" + Guid.NewGuid().ToString("N")[..8], stepId = "s1", connectionId };
        var created = await (await admin.PostJsonAsync("/v1/workflow-webhooks", stepBody)).ReadJsonAsync(HttpStatusCode.Created);
        return new WorkflowStep(admin, connectionId, created.Id(), url);
    }

    public static object Contact(string id, string? email = null) => new { contact = new { id, email = email ?? $"{id}@example.com", firstName = "Ana" } };
}
