import { ApiException, type ProblemDetails } from "./client.generated.js";

/**
 * Any RFC 9457 problem the API sends. The document types validation problems (400) as
 * HttpValidationProblemDetails, with `errors`, and the others as ProblemDetails; `problemOf`
 * gives either as this one type.
 */
export interface Problem extends ProblemDetails {
    /** For validation problems: each field name or JSON pointer at fault with its messages. */
    errors?: { [field: string]: string[] };
}

/**
 * The problem details of a failed call, or undefined when `error` is not an API problem. For the
 * statuses the document declares the client has parsed it already (`ApiException.result`); for
 * the others (a reused Idempotency-Key's 422 on most operations, 413, 5xx) it is read from the
 * response body when that is `application/problem+json`.
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
