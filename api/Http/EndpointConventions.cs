namespace WebhooksApi.Http;

internal static class EndpointConventions
{
    /// <summary>The problem responses every authenticated operation can give.</summary>
    public static RouteHandlerBuilder ProducesAuthProblems(this RouteHandlerBuilder builder) =>
        builder.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);

    public static RouteHandlerBuilder ProducesValidationProblems(this RouteHandlerBuilder builder) =>
        builder.ProducesValidationProblem();

    public static RouteHandlerBuilder ProducesNotFound(this RouteHandlerBuilder builder) =>
        builder.ProducesProblem(StatusCodes.Status404NotFound);

    /// <summary>Route ids are opaque strings on the wire; anything that is not one of ours is simply not found.</summary>
    public static bool TryParseId(string? id, out Guid value) => Guid.TryParse(id, out value);
}
