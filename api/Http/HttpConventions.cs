using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace WebhooksApi.Http;

internal sealed class HttpLimitsOptions
{
    public const string Section = "Http";

    /// <summary>Largest request body accepted, in bytes (default 1 MiB). Batch endpoints set their own.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;
}

internal sealed class CorsOptions
{
    public const string Section = "Cors";

    /// <summary>Browser origins allowed to call the API, comma-separated. Empty: none.</summary>
    public string? AllowedOrigins { get; set; }
}

internal static class HttpConventions
{
    private const string CorsPolicy = "frontends";

    public static WebApplicationBuilder AddHttpConventions(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.Configure<HttpLimitsOptions>(builder.Configuration.GetSection(HttpLimitsOptions.Section));
        services.ConfigureHttpJsonOptions(options => Configure(options.SerializerOptions));
        // Minimal APIs answer a bad body with a bare 400 by default; throwing lets the exception
        // handler say what was wrong in a problem document.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.AddProblemDetails(options => options.CustomizeProblemDetails = Problems.Customize);
        services.AddExceptionHandler<ExceptionToProblemHandler>();

        var origins = (builder.Configuration.GetSection(CorsOptions.Section).Get<CorsOptions>()?.AllowedOrigins ?? string.Empty)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        services.AddCors(options => options.AddPolicy(CorsPolicy, policy =>
        {
            policy.WithOrigins(origins).AllowAnyHeader().AllowAnyMethod().WithExposedHeaders("Location", "Idempotent-Replayed");
        }));

        services.Configure<IdempotencyOptions>(builder.Configuration.GetSection(IdempotencyOptions.Section));
        services.AddScoped<IdempotencyMiddleware>();
        return builder;
    }

    /// <summary>
    /// Strict numbers and string enums: the OpenAPI document then types them cleanly for the
    /// generated clients, and "1" for a number or an unknown enum value is a 400, not a guess.
    /// </summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.NumberHandling = JsonNumberHandling.Strict;
        // Nulls are written: the document marks nullable fields required-but-nullable, and a
        // generated client must find every field it was promised.
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        // Non-nullable and required fields are enforced while reading, so the document's
        // `required` and the server agree, and a missing field is a 400 naming it.
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.AllowTrailingCommas = false;
        options.MaxDepth = 64;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(NulFreeStrings.Modify);
    }

    public static WebApplication UseHttpConventions(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(LimitRequestBody);
        app.Use(NulFreeStrings.RefuseInUrl);
        app.Use((context, next) =>
        {
            // PATCH handlers re-read the body to tell an absent field from an explicit null.
            if (HttpMethods.IsPatch(context.Request.Method))
            {
                context.Request.EnableBuffering();
            }

            return next(context);
        });
        app.UseCors(CorsPolicy);
        return app;
    }

    /// <summary>
    /// Refuses an oversized body before reading it. Kestrel enforces the same limit on chunked
    /// bodies while they are read (that surfaces as a 413 through the exception handler); where
    /// the server cannot, the body stream counts for it.
    /// </summary>
    private static async Task LimitRequestBody(HttpContext context, Func<Task> next)
    {
        var endpointLimit = context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>()?.MaxRequestBodySize;
        var limit = endpointLimit ?? context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<HttpLimitsOptions>>().Value.MaxRequestBodyBytes;
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            feature.MaxRequestBodySize = limit;
        }
        else
        {
            context.Request.Body = new LimitedRequestBody(context.Request.Body, limit);
        }

        if (context.Request.ContentLength > limit)
        {
            await Problems.Write(context, Problems.Problem(StatusCodes.Status413PayloadTooLarge, Problems.PayloadTooLargeType,
                "The request body is too large.", $"The body is {context.Request.ContentLength} bytes; this endpoint accepts at most {limit}."));
            return;
        }

        await next();
    }
}
