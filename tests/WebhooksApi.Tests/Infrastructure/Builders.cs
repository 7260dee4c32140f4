using System.Net;
using System.Text.Json;

namespace WebhooksApi.Tests.Infrastructure;

/// <summary>Test data with defaults, so a test shows only what matters to it.</summary>
public static class Builders
{
    public static Dictionary<string, object?> Connection(string url, string title = "CRM") => new()
    {
        ["title"] = title,
        ["url"] = url,
    };

    public static Dictionary<string, object?> With(this Dictionary<string, object?> body, string key, object? value)
    {
        body[key] = value;
        return body;
    }

    public static async Task<JsonElement> CreateConnectionAsync(this HttpClient client, Dictionary<string, object?> body) =>
        await (await client.PostJsonAsync("/v1/connections", body)).ReadJsonAsync(HttpStatusCode.Created);

    public static async Task<JsonElement> TestConnectionAsync(this HttpClient client, string id, object? body = null) =>
        await (await client.PostJsonAsync($"/v1/connections/{id}/test", body ?? new { })).ReadJsonAsync();

    public static async Task<HttpResponseMessage> ActionAsync(this HttpClient client, string id, string action) =>
        await client.PostAsync(new Uri($"/v1/connections/{id}/{action}", UriKind.Relative), null);

    public static async Task<JsonElement> GetJsonAsync(this HttpClient client, string url) =>
        await (await client.GetAsync(new Uri(url, UriKind.Relative))).ReadJsonAsync();

    public static string Id(this JsonElement element) => element.GetProperty("id").GetString()!;

    public static string Str(this JsonElement element, string name) => element.GetProperty(name).GetString()!;
}
