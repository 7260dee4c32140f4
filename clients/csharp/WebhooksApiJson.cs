using System.Text.Json;
using System.Text.Json.Serialization;

namespace WebhooksApi.Client;

/// <summary>
/// The JSON settings of every generated client: client.nswag names <see cref="Configure"/> as
/// NSwag's serializer-settings transformation, so one place covers all clients, present and future.
/// </summary>
internal static class WebhooksApiJson
{
    /// <summary>Also used to read problem details from responses the document does not declare.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions());

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        // The document's enums carry no `type: string`, so NSwag puts no converter on enum
        // properties; without this one they would be sent as numbers, which the API refuses. It
        // honours the [JsonStringEnumMemberName] NSwag emits ("connections:manage", "api_key").
        options.Converters.Add(new JsonStringEnumConverter());

        // An optional request field left unset is omitted, not sent as null: on a PATCH the API
        // reads null as "clear this field" (and a null url as a 400), so sending every unset
        // property as null would wipe the resource.
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return options;
    }
}
