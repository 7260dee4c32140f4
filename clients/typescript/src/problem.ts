import { ApiException, type ProblemDetails } from "./client.generated.js";

/**
 * An RFC 9457 problem as the API sends it. The document's ProblemDetails lists only the core
 * members (`type`, `title`, `status`, `detail`, `instance`); the API also sends these.
 */
export interface Problem extends ProblemDetails {
    /** For validation problems: each field name or JSON pointer at fault with its messages. */
    errors?: { [field: string]: string[] };
    /** The request's trace id; quote it when reporting a 5xx. */
    traceId?: string;
}

/**
 * The problem details of a failed call, or undefined when `error` is not an API problem. For the
 * statuses the document declares the client has parsed it already (`ApiException.result`); for
 * the others (a reused Idempotency-Key's 422, 413, 415, 5xx) it is read from the response body
 * when that is `application/problem+json`.
 */
export function problemOf(error: unknown): Problem | undefined {
    if (!(error instanceof ApiException)) {
        return undefined;
    }
    if (error.result !== null && typeof error.result === "object") {
        return error.result as Problem;
    }
    const contentType = String(error.headers?.["content-type"] ?? "");
    if (!contentType.startsWith("application/problem+json") || !error.response) {
        return undefined;
    }
    try {
        const parsed: unknown = JSON.parse(error.response);
        return parsed !== null && typeof parsed === "object" ? (parsed as Problem) : undefined;
    } catch {
        return undefined;
    }
}
