using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Connections.Restore;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapTransition("restore", "Connections_Restore", "Restore a deleted connection",
            "A restored connection comes back `pending`: test it, then activate it. 409 when it is not deleted.",
            (connection, now) =>
            {
                if (connection.Status != ConnectionStatuses.Deleted)
                {
                    return Problems.Conflict("Only a deleted connection can be restored.");
                }

                connection.DeletedAt = null;
                connection.StatusBeforeDelete = null;
                // Whatever was tested before the deletion no longer vouches for it.
                connection.ShapeVersion++;
                ConnectionRules.SetStatus(connection, ConnectionStatuses.Pending, "Restored: test it, then activate it.", now);
                return null;
            });
}
