/** What a generated client takes as its second constructor argument. */
export interface FetchLike {
    fetch(url: RequestInfo, init?: RequestInit): Promise<Response>;
}

/**
 * A fetch that sends `Authorization: Bearer <apiKey>` with every request, for a generated client:
 * `new ConnectionsClient(baseUrl, withApiKey(key))`. Outside browsers it is needed anyway: a
 * client given no fetch calls `window.fetch`.
 */
export function withApiKey(apiKey: string, fetchImpl: typeof fetch = globalThis.fetch): FetchLike {
    return {
        fetch(url: RequestInfo, init?: RequestInit): Promise<Response> {
            const headers = new Headers(init?.headers);
            headers.set("Authorization", `Bearer ${apiKey}`);
            // NSwag sends an optional header parameter the caller left out (Idempotency-Key) as an
            // empty header; leave it out instead.
            for (const [name, value] of [...headers]) {
                if (value === "") {
                    headers.delete(name);
                }
            }
            return fetchImpl(url, { ...init, headers });
        },
    };
}
