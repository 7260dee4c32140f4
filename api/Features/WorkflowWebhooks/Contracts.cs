using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.WorkflowWebhooks;

/// <summary>
/// A workflow's "call webhook" step. `fields` narrows the contact fields sent (empty: all);
/// `extra` adds key/value pairs (static values or merge tags) to the variables.
/// </summary>
internal sealed record WorkflowWebhookIn(
    string Name,
    string WorkflowId,
    string StepId,
    string ConnectionId,
    IReadOnlyList<string>? Fields = null,
    IReadOnlyDictionary<string, string>? Extra = null,
    bool CaptureResponse = false);

/// <summary>Changes to a step binding: given fields replace, absent ones stay.</summary>
internal sealed record WorkflowWebhookPatch(
    string? Name = null,
    string? WorkflowId = null,
    string? StepId = null,
    string? ConnectionId = null,
    IReadOnlyList<string>? Fields = null,
    IReadOnlyDictionary<string, string>? Extra = null,
    bool? CaptureResponse = null);

internal sealed record WorkflowWebhookOut(
    string Id,
    string Name,
    string WorkflowId,
    string StepId,
    string ConnectionId,
    IReadOnlyList<string> Fields,
    IReadOnlyDictionary<string, string> Extra,
    bool CaptureResponse,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

internal static partial class WorkflowWebhookRules
{
    public static WorkflowWebhookOut ToOut(WorkflowWebhook w) => new(
        w.Id.ToString(), w.Name, w.WorkflowId, w.StepId, w.ConnectionId.ToString(),
        Fields(w.FieldsJson), Extra(w.ExtraJson), w.CaptureResponse, w.CreatedAt, w.UpdatedAt);

    public static IReadOnlyList<string> Fields(string fieldsJson) => JsonSerializer.Deserialize<List<string>>(fieldsJson) ?? [];

    public static IReadOnlyDictionary<string, string> Extra(string extraJson) => JsonSerializer.Deserialize<Dictionary<string, string>>(extraJson) ?? [];

    public static async Task ValidateAsync(
        ValidationErrors errors, Guid accountId, WebhooksDbContext db, string name, string workflowId, string stepId, string connectionId,
        IReadOnlyList<string> fields, IReadOnlyDictionary<string, string> extra, CancellationToken cancellationToken)
    {
        if (!NamePattern().IsMatch(name))
        {
            errors.Add("name", "name must be 1 to 100 Latin letters, digits, '_' or '-'.");
        }

        errors.Length("workflowId", workflowId, 1, 200);
        errors.Length("stepId", stepId, 1, 200);
        var connectionExists = Guid.TryParse(connectionId, out var id)
            && await db.Connections.AnyAsync(c => c.Id == id && c.AccountId == accountId, cancellationToken);
        if (!connectionExists)
        {
            errors.Add("connectionId", $"No connection with id '{connectionId}'.");
        }

        // A null in the list gets past the binder (the body's own JSON says so): refused here like an empty name.
        if (fields.Count > 200 || fields.Any(f => f is null || f.Length is 0 or > 100))
        {
            errors.Add("fields", "At most 200 field names, each a string of 1 to 100 characters.");
        }

        if (extra.Count > 50)
        {
            errors.Add("extra", "At most 50 extra values.");
        }

        foreach (var (key, value) in extra)
        {
            if (key.Length is 0 or > 100 || value is null || value.Length > 2000)
            {
                errors.Add($"extra.{key}", "Keys are 1 to 100 characters, values strings of at most 2000.");
            }
            else if (Connections.ConnectionTemplates.CheckHeader(value) is { } templateError)
            {
                errors.Add($"extra.{key}", templateError);
            }
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,100}$")]
    private static partial Regex NamePattern();
}
