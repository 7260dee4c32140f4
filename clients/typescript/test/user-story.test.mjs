// The compiled TypeScript client (dist/) against a running service. It starts nothing: .ci/run
// starts the service on a fresh SQLite database and passes WEBHOOKS_API_URL and WEBHOOKS_API_KEY
// (the bootstrap admin key). Run by hand: npm run build && WEBHOOKS_API_URL=... WEBHOOKS_API_KEY=... npm test
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiException, ApiKeysClient, ConnectionsClient, WorkflowWebhooksClient, enqueueExecutions, problemOf, withApiKey } from "../dist/index.js";

const baseUrl = process.env.WEBHOOKS_API_URL;
const adminKey = process.env.WEBHOOKS_API_KEY;
if (!baseUrl || !adminKey) {
    throw new Error("Set WEBHOOKS_API_URL and WEBHOOKS_API_KEY to a running service and its admin key.");
}

/** A key with only connections:manage, as a settings page would hold. */
async function managerKey() {
    const created = await new ApiKeysClient(baseUrl, withApiKey(adminKey)).create({ name: "settings page", scopes: ["connections:manage"] });
    assert.deepEqual(created.scopes, ["connections:manage"]);
    return created.key;
}

test("a connection is created, tested, activated and listed", async () => {
    const connections = new ConnectionsClient(baseUrl, withApiKey(await managerKey()));
    // The service's own liveness probe answers GET with 200: an endpoint that needs nothing started.
    const created = await connections.create({ title: "Liveness", url: `${baseUrl}/healthz`, method: "GET" });
    assert.equal(created.status, "pending");
    assert.match(created.signingSecret ?? "", /^whsec_/);

    const pending = await connections.list("pending");
    assert.ok(pending.items.some((c) => c.id === created.id));

    const result = await connections.test(created.id);
    assert.equal(result.outcome, "ok");
    assert.equal(result.statusCode, 200);
    assert.equal(result.canActivate, true);

    const activated = await connections.activate(created.id);
    assert.equal(activated.status, "active");
    const active = await connections.list("active");
    assert.ok(active.items.some((c) => c.id === created.id));
    assert.ok(active.items.every((c) => c.status === "active"));
});

test("a workflow step queues executions and waits for a data-source response", async () => {
    const http = withApiKey(adminKey);
    const connections = new ConnectionsClient(baseUrl, http);
    const connection = await connections.create({ title: "Liveness", url: `${baseUrl}/healthz`, method: "GET" });
    assert.equal((await connections.test(connection.id)).canActivate, true);
    await connections.activate(connection.id);
    const workflows = new WorkflowWebhooksClient(baseUrl, http);
    const step = await workflows.create({ name: "probe", workflowId: "wf-ts", stepId: "s1", connectionId: connection.id, captureResponse: true });

    const queued = await enqueueExecutions(workflows, step.id, { items: [{ contact: { id: "c-1" } }, { contact: { email: "c2@example.com" } }] });
    assert.equal(queued.items.length, 2);
    assert.equal(queued.pending, 2);

    const waited = await workflows.execute(step.id, { contact: { id: "c-3" } }, true);
    assert.equal(waited.status, "succeeded");
    assert.equal(waited.lastResponse?.json?.status, "ok");
});

test("a bad URL is a validation problem naming the field", async () => {
    const connections = new ConnectionsClient(baseUrl, withApiKey(adminKey));
    await assert.rejects(connections.create({ title: "CRM", url: "ftp://x" }), (error) => {
        assert.ok(error instanceof ApiException);
        assert.equal(error.status, 400);
        const problem = problemOf(error);
        assert.equal(problem?.type, "urn:webhooks-api:problem:validation");
        assert.equal(problem?.status, 400);
        assert.ok(problem?.detail, "problem has a detail");
        assert.ok(problem?.errors?.url?.length, `errors names url: ${JSON.stringify(problem?.errors)}`);
        assert.ok(problem?.traceId, "problem has a traceId");
        return true;
    });
});

test("problems read the same for declared and undeclared statuses", async () => {
    const connections = new ConnectionsClient(baseUrl, withApiKey(adminKey));
    const body = { title: "CRM", url: `${baseUrl}/healthz` };
    await connections.create(body, "ts-create-once");
    // A reused Idempotency-Key with another body is a 422 (declared on every creating POST).
    await assert.rejects(connections.create({ ...body, title: "Other" }, "ts-create-once"), (error) => {
        assert.equal(error.status, 422);
        assert.equal(problemOf(error)?.type, "urn:webhooks-api:problem:idempotency-key-reused");
        return true;
    });

    await assert.rejects(new ConnectionsClient(baseUrl, withApiKey("whk_not_a_key")).list(), (error) => {
        assert.equal(error.status, 401);
        assert.equal(problemOf(error)?.type, "urn:webhooks-api:problem:unauthorized");
        return true;
    });
});
