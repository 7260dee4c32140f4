import { ApiException, type ExecutionIn, type ExecutionsOut, type IWorkflowWebhooksClient } from "./client.generated.js";

/**
 * Executes a workflow webhook for one contact or a batch, without waiting: each item is a durable
 * delivery when this resolves. For a data-source step that needs the response, call
 * `client.execute(id, body, true)`.
 *
 * Why not `client.execute(id, body)`: the document gives the executions operation two success
 * responses with different schemas, 202 ExecutionsOut (queued) and 200 DeliveryOut (`wait=true`).
 * NSwag types `execute` by the 200 and throws the 202 as an ApiException whose `result` is the
 * ExecutionsOut. This returns that result. Delete it once the API gives `wait` its own operation.
 */
export async function enqueueExecutions(
    client: IWorkflowWebhooksClient,
    id: string,
    body: ExecutionIn,
    idempotencyKey?: string,
    signal?: AbortSignal,
): Promise<ExecutionsOut> {
    let delivered: { id: string } | null;
    try {
        delivered = await client.execute(id, body, undefined, idempotencyKey, signal);
    } catch (error) {
        if (error instanceof ApiException && error.status === 202) {
            return error.result as ExecutionsOut;
        }
        throw error;
    }
    throw new Error(`Expected 202 with the queued deliveries, got 200 with delivery '${delivered?.id}'.`);
}
