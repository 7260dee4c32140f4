using System.Net;
using WebhooksApi.Tests.Infrastructure;

namespace WebhooksApi.Tests.OpenApi;

/// <summary>
/// openapi.yaml at the root is what partners read and what the clients are generated from, so
/// it must be the served document byte for byte. To regenerate it after an API change:
/// `UPDATE_OPENAPI=1 dotnet test --filter FullyQualifiedName~OpenApiDocumentTests`.
/// </summary>
[Collection(SqliteCollection.Name)]
public sealed class OpenApiDocumentTests(SqliteApi fixture) : ApiTests<SqliteApi>(fixture)
{
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "WebhooksApi.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("WebhooksApi.sln not found above the test folder.");
    }

    [Fact]
    public async Task The_root_openapi_yaml_is_the_served_document()
    {
        using var client = Fixture.Client();
        var served = await client.GetStringAsync(new Uri("/openapi/v1.yaml", UriKind.Relative));
        var path = Path.Combine(RepositoryRoot(), "openapi.yaml");
        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(path, served);
        }

        var committed = File.Exists(path) ? await File.ReadAllTextAsync(path) : string.Empty;
        Assert.True(served == committed,
            "openapi.yaml differs from the served document. Regenerate it: UPDATE_OPENAPI=1 dotnet test --filter FullyQualifiedName~OpenApiDocumentTests");
    }

    [Fact]
    public async Task The_document_is_served_as_json_with_stable_operation_ids_and_the_bearer_scheme()
    {
        using var client = Fixture.Client();
        var json = await (await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative))).ReadJsonAsync();
        Assert.StartsWith("3.1", json.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal("http", json.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("type").GetString());

        var operationIds = json.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject())
            .Select(op => op.Value.GetProperty("operationId").GetString()!)
            .ToList();
        Assert.Contains("ApiKeys_Create", operationIds);
        Assert.Equal(operationIds.Count, operationIds.Distinct().Count());
        Assert.All(operationIds, id => Assert.Matches("^[A-Z][A-Za-z]+_[A-Z][A-Za-z]+$", id));
    }

    [Theory]
    [InlineData("/v1/activities", "post", "activity-event.schema.json")]
    [InlineData("/v1/workflow-webhooks/{id}/executions", "post", "workflow-execution.schema.json")]
    public async Task Operations_validated_by_a_json_schema_point_at_the_served_file_which_is_the_one_in_schemas(string path, string method, string file)
    {
        using var client = Fixture.Client();
        var json = await (await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative))).ReadJsonAsync();
        var url = json.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("externalDocs").GetProperty("url").GetString()!;
        Assert.Equal($"/schemas/{file}", url);

        var served = await client.GetStringAsync(new Uri(url, UriKind.Relative));
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "schemas", file)), served);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri("/schemas/..%2Fappsettings.json", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Swagger_ui_is_served_at_docs()
    {
        using var client = Fixture.Client();
        var response = await client.GetAsync(new Uri("/docs/index.html", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }
}
