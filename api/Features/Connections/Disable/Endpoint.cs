using WebhooksApi.Http;
using WebhooksApi.Persistence;

namespace WebhooksApi.Features.Connections.Disable;

internal sealed class Endpoint : IEndpoint
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapTransition("disable", "Connections_Disable", "Disable a connection",
            "Nothing is sent while disabled; workflow steps using it record their executions as skipped. Activate it again to resume.",
            (connection, now) =>
            {
                if (connection.Status == ConnectionStatuses.Deleted)
                {
                    return Problems.Conflict("The connection is deleted.");
                }

                if (connection.Status != ConnectionStatuses.Disabled)
                {
                    ConnectionRules.SetStatus(connection, ConnectionStatuses.Disabled, "Disabled by the user.", now);
                }

                return null;
            });
}
