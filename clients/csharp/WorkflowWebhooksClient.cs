namespace WebhooksApi.Client;

public partial interface IWorkflowWebhooksClient
{
    /// <summary>
    /// Execute a workflow webhook for one contact or a batch, without waiting: each item is a
    /// durable delivery when this returns (the 202 of <c>POST /v1/workflow-webhooks/{id}/executions</c>).
    /// For a data-source step that needs the response, call <c>ExecuteAsync(id, body, wait: true)</c>.
    /// </summary>
    /// <param name="id">The workflow webhook.</param>
    /// <param name="body">One execution (<c>Contact</c>, <c>Event</c>, <c>Variables</c>) or a batch (<c>Items</c>).</param>
    /// <param name="idempotencyKey">Makes a retry safe: a repeat with the same key and body is accepted once.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The accepted deliveries and how many are pending, held or skipped.</returns>
    Task<ExecutionsOut> EnqueueAsync(string id, ExecutionIn body, string? idempotencyKey = null, CancellationToken cancellationToken = default);
}

/// <remarks>
/// The document gives the executions operation two success responses with different schemas:
/// 202 <see cref="ExecutionsOut"/> (queued, the usual case) and 200 <see cref="DeliveryOut"/>
/// (<c>wait=true</c>). NSwag types <c>ExecuteAsync</c> by the 200 and reports the 202 as an
/// <see cref="ApiException{TResult}"/> of <see cref="ExecutionsOut"/>, so queuing through it looks
/// like a failure. <see cref="EnqueueAsync"/> returns that 202's body. Delete this once the API
/// gives <c>wait</c> its own operation (the tests of CSharpClientTests show when).
/// </remarks>
public partial class WorkflowWebhooksClient
{
    /// <inheritdoc />
    public virtual async Task<ExecutionsOut> EnqueueAsync(string id, ExecutionIn body, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        try
        {
            var delivery = await ExecuteAsync(id, body, wait: null, idempotencyKey, cancellationToken).ConfigureAwait(false);
            throw new ApiException($"Expected 202 with the queued deliveries, got 200 with delivery '{delivery.Id}'.", 200, null, new Dictionary<string, IEnumerable<string>>(), null);
        }
        catch (ApiException<ExecutionsOut> accepted) when (accepted.StatusCode == 202)
        {
            return accepted.Result;
        }
    }
}
