using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using WebhooksApi.Http;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.WorkflowWebhooks.Create;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/v1/workflow-webhooks", Handle)
            .WithName("WorkflowWebhooks_Create")
            .WithTags("WorkflowWebhooks")
            .WithSummary("Bind a workflow step to a connection")
            .WithDescription("workflowId and stepId are unique together per account (409 for a second binding).")
            .RequireScopes(Scopes.ConnectionsManage)
            .Idempotent()
            .ProducesValidationProblems()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesAuthProblems();

    private static async Task<Results<Created<WorkflowWebhookOut>, ProblemHttpResult>> Handle(
        WorkflowWebhookIn request, HttpContext http, WebhooksDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var accountId = http.User.GetAccountId();
        var fields = request.Fields ?? [];
        var extra = request.Extra ?? new Dictionary<string, string>();
        var errors = new ValidationErrors();
        await WorkflowWebhookRules.ValidateAsync(errors, accountId, db, request.Name, request.WorkflowId, request.StepId, request.ConnectionId, fields, extra, cancellationToken);
        if (errors.Any)
        {
            return errors.ToProblem();
        }

        if (await db.WorkflowWebhooks.AnyAsync(w => w.AccountId == accountId && w.WorkflowId == request.WorkflowId && w.StepId == request.StepId, cancellationToken))
        {
            return Problems.Conflict($"Step '{request.StepId}' of workflow '{request.WorkflowId}' already has a webhook.");
        }

        var now = time.GetUtcNow();
        var row = new WorkflowWebhook
        {
            Id = Ids.New(now),
            AccountId = accountId,
            Name = request.Name,
            WorkflowId = request.WorkflowId,
            StepId = request.StepId,
            ConnectionId = Guid.Parse(request.ConnectionId),
            FieldsJson = JsonSerializer.Serialize(fields),
            ExtraJson = JsonSerializer.Serialize(extra),
            CaptureResponse = request.CaptureResponse,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.WorkflowWebhooks.Add(row);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            return Problems.Conflict($"Step '{request.StepId}' of workflow '{request.WorkflowId}' already has a webhook.");
        }

        return TypedResults.Created($"/v1/workflow-webhooks/{row.Id}", WorkflowWebhookRules.ToOut(row));
    }
}
