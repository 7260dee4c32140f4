using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Update;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPatch("/v1/workflow-webhooks/{id}", Handle)
            .WithName("WorkflowWebhooks_Update")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Change a workflow webhook")
            .RequireScopes(Scopes.ConnectionsManage)
            .ProducesValidationProblems()
            .ProducesNotFound()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    private static async Task<Results<Ok<WorkflowWebhookOut>, ProblemHttpResult>> Handle(
        string id, WorkflowWebhookPatch patch, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var row = await db.WorkflowWebhooks.FindOwnedAsync(accountId, id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound($"No workflow webhook with id '{id}'.");
        }

        var name = patch.Name ?? row.Name;
        var workflowId = patch.WorkflowId ?? row.WorkflowId;
        var stepId = patch.StepId ?? row.StepId;
        var connectionId = patch.ConnectionId ?? row.ConnectionId.ToString();
        var fields = patch.Fields ?? WorkflowWebhookRules.Fields(row.FieldsJson);
        var extra = patch.Extra ?? WorkflowWebhookRules.Extra(row.ExtraJson);
        var errors = new ValidationErrors();
        await WorkflowWebhookRules.ValidateAsync(errors, accountId, db, name, workflowId, stepId, connectionId, fields, extra, cancellationToken);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        if ((workflowId != row.WorkflowId || stepId != row.StepId)
            && await db.WorkflowWebhooks.AnyAsync(w => w.AccountId == accountId && w.WorkflowId == workflowId && w.StepId == stepId && w.Id != row.Id, cancellationToken))
        {
            return Problems.Conflict($"Step '{stepId}' of workflow '{workflowId}' already has a webhook.");
        }

        row.Name = name;
        row.WorkflowId = workflowId;
        row.StepId = stepId;
        row.ConnectionId = Guid.Parse(connectionId);
        row.FieldsJson = JsonSerializer.Serialize(fields);
        row.ExtraJson = JsonSerializer.Serialize(extra);
        row.CaptureResponse = patch.CaptureResponse ?? row.CaptureResponse;
        row.UpdatedAt = time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(WorkflowWebhookRules.ToOut(row));
    }
}
