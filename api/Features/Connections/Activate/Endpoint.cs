using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Connections.Activate;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapTransition("activate", "Connections_Activate", "Activate a connection",
            "Allowed only after a successful test since the last change (409 otherwise). Held deliveries resume.",
            (connection, now) =>
            {
                if (connection.Status == ConnectionStatuses.Deleted)
                {
                    return Problems.Conflict("The connection is deleted: restore it, test it, then activate it.");
                }

                if (!ConnectionRules.TestedSinceLastChange(connection))
                {
                    return Problems.Conflict("The connection has not had a successful test since it was created or last changed: run POST /v1/connections/{id}/test first.");
                }

                if (connection.Status != ConnectionStatuses.Active)
                {
                    ConnectionRules.SetStatus(connection, ConnectionStatuses.Active, "Activated after a successful test.", now);
                }

                return null;
            });
}
