using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using WebhooksApi.Http;

namespace WebhooksApi.OpenApi;

internal static class OpenApiDocs
{
    public const string DocumentName = "v1";
    private const string BearerScheme = "bearer";

    public static WebApplicationBuilder AddOpenApiDocs(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(DocumentName, options =>
        {
            options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_1;
            options.AddDocumentTransformer(DescribeDocument);
            options.AddOperationTransformer(DescribeOperation);
            options.AddSchemaTransformer((schema, context, cancellationToken) =>
            {
                // Our enums are strings on the wire; saying so lets generators attach a string converter.
                if (schema.Enum is { Count: > 0 } && schema.Type is null && context.JsonTypeInfo.Type.IsEnum)
                {
                    schema.Type = JsonSchemaType.String;
                }

                return Task.CompletedTask;
            });
        });
        return builder;
    }

    public static WebApplication MapOpenApiDocs(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapOpenApi("/openapi/{documentName}.yaml");
        app.UseSwaggerUI(options =>
        {
            options.RoutePrefix = "docs";
            options.DocumentTitle = "Webhooks API";
            options.SwaggerEndpoint($"/openapi/{DocumentName}.json", "Webhooks API v1");
        });
        return app;
    }

    private static Task DescribeDocument(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Webhooks API",
            Version = "1.0.0",
            Description = """
                The webhook engine a marketing-automation or CDP platform embeds: connections to third-party
                endpoints with templated bodies and auth connectors, webhook steps in automation workflows,
                test sends, retries, health checks, delivery logs and stats, and an account activity feed.

                Authenticate with an API key: `Authorization: Bearer <key>`. Errors are RFC 9457 problem
                details (`application/problem+json`) with a stable `type`. Lists use cursor pagination
                (`limit`, `cursor` -> `nextCursor`). Creating POSTs accept an `Idempotency-Key` header.
                """,
        };
        // The document is the same wherever it is served from; servers would bake in one host.
        document.Servers = [];
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        // Problems carry a traceId (and some carry more, e.g. a verification's statusCode): say so,
        // or a strict client would reject the very errors it most needs to read.
        foreach (var name in (string[])["ProblemDetails", "HttpValidationProblemDetails"])
        {
            if (document.Components.Schemas is { } schemas && schemas.TryGetValue(name, out var found) && found is OpenApiSchema problem)
            {
                problem.AdditionalPropertiesAllowed = true;
                problem.AdditionalProperties = null;
                problem.Properties ??= new Dictionary<string, IOpenApiSchema>();
                problem.Properties["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Quote it when reporting a problem." };
            }
        }

        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key (`whk_...`), or the operator key for operator-only operations.",
        };
        return Task.CompletedTask;
    }

    private static Task DescribeOperation(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var secured = metadata.OfType<IAuthorizeData>().Any() || metadata.OfType<AuthorizationPolicy>().Any() || metadata.OfType<OperatorMetadata>().Any();
        if (secured)
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
        }

        var scopes = metadata.OfType<ScopesMetadata>().FirstOrDefault();
        if (scopes is not null)
        {
            var needed = string.Join("`, `", scopes.AnyOf);
            operation.Description = $"{operation.Description}\n\nScope: any of `{needed}` (`admin` holds all).".Trim();
        }

        if (metadata.OfType<JsonSchemaMetadata>().FirstOrDefault() is { } jsonSchema)
        {
            operation.ExternalDocs = new OpenApiExternalDocs
            {
                Description = $"The request body is validated against this JSON Schema ({jsonSchema.Id}).",
                Url = new Uri(jsonSchema.Path, UriKind.Relative),
            };
        }

        if (metadata.OfType<IdempotentMetadata>().Any())
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = IdempotencyExtensions.HeaderName,
                In = ParameterLocation.Header,
                Required = false,
                Description = "Makes a retry safe: a repeat with the same key and body returns the first response; the same key with another body is a 422.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 255 },
            });
        }

        return Task.CompletedTask;
    }
}

/// <summary>Endpoint metadata naming the scopes an operation accepts, for its description.</summary>
internal sealed record ScopesMetadata(IReadOnlyList<string> AnyOf);

/// <summary>Endpoint metadata naming the JSON Schema file (served under /schemas/) a request body is validated against.</summary>
internal sealed record JsonSchemaMetadata(string Path, string Id);

/// <summary>Endpoint metadata for operator-only operations.</summary>
internal sealed class OperatorMetadata
{
    public static readonly OperatorMetadata Instance = new();
}
