namespace WebhooksApi.Http;

internal static class EndpointConventions
{
    /// <summary>The problem responses every authenticated operation can give.</summary>
    /// <summary>401 and 403, and the 429 (with Retry-After) a client address gets after too many refused keys.</summary>
    public static RouteHandlerBuilder ProducesAuthProblems(this RouteHandlerBuilder builder) =>
        builder.ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

    public static RouteHandlerBuilder ProducesValidationProblems(this RouteHandlerBuilder builder) =>
        builder.ProducesValidationProblem();

    public static RouteHandlerBuilder ProducesNotFound(this RouteHandlerBuilder builder) =>
        builder.ProducesProblem(StatusCodes.Status404NotFound);

    /// <summary>Route ids are opaque strings on the wire; anything that is not one of ours is simply not found.</summary>
    public static bool TryParseId(string? id, out Guid value) => Guid.TryParse(id, out value);
}
