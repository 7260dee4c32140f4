using System.Text.Json;
using WebhooksApi.Persistence;
using WebhooksApi.Security;

namespace WebhooksApi.Features.AuthConnectors;

internal enum AuthConnectorType
{
    Basic,
    Bearer,
    ApiKey,
}

internal enum ApiKeyLocation
{
    Header,
    Query,
}

/// <summary>Basic auth. The password is write-only.</summary>
internal sealed record BasicAuthIn(string Username, string Password);

/// <summary>A bearer token, sent as `Authorization: Bearer <token>`. Write-only.</summary>
internal sealed record BearerAuthIn(string Token);

/// <summary>An API key sent as a header or a query parameter called `name`. The value is write-only.</summary>
internal sealed record ApiKeyAuthIn(string Name, string Value, ApiKeyLocation In = ApiKeyLocation.Header);

/// <summary>A named credential. Give the object matching `type`; its secrets are encrypted and never returned.</summary>
internal sealed record AuthConnectorIn(
    string Name,
    AuthConnectorType Type,
    BasicAuthIn? Basic = null,
    BearerAuthIn? Bearer = null,
    ApiKeyAuthIn? ApiKey = null);

/// <summary>Changes to a connector: a new name, and/or new credentials (of the same or another type).</summary>
internal sealed record AuthConnectorPatch(
    string? Name = null,
    AuthConnectorType? Type = null,
    BasicAuthIn? Basic = null,
    BearerAuthIn? Bearer = null,
    ApiKeyAuthIn? ApiKey = null);

internal sealed record BasicAuthOut(string Username);

internal sealed record ApiKeyAuthOut(string Name, ApiKeyLocation In);

/// <summary>A connector as shown: what it is and where it goes, never a password, token or key value.</summary>
internal sealed record AuthConnectorOut(
    string Id,
    string Name,
    AuthConnectorType Type,
    BasicAuthOut? Basic,
    ApiKeyAuthOut? ApiKey,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>The stored shapes: public part in clear, secrets encrypted.</summary>
internal sealed record AuthPublic(string? Username = null, string? KeyName = null, ApiKeyLocation? In = null);

internal sealed record AuthSecrets(string? Password = null, string? Token = null, string? Value = null);

internal static class AuthConnectorMapping
{
    public static readonly JsonSerializerOptions StoreJson = new(JsonSerializerDefaults.Web);

    public static string TypeName(AuthConnectorType type) => type switch
    {
        AuthConnectorType.Basic => "basic",
        AuthConnectorType.Bearer => "bearer",
        _ => "api_key",
    };

    public static AuthConnectorType ParseType(string stored) => stored switch
    {
        "basic" => AuthConnectorType.Basic,
        "bearer" => AuthConnectorType.Bearer,
        _ => AuthConnectorType.ApiKey,
    };

    public static AuthConnectorOut ToOut(AuthConnector row)
    {
        var type = ParseType(row.Type);
        var pub = JsonSerializer.Deserialize<AuthPublic>(row.PublicJson, StoreJson) ?? new AuthPublic();
        return new AuthConnectorOut(
            row.Id.ToString(),
            row.Name,
            type,
            type == AuthConnectorType.Basic ? new BasicAuthOut(pub.Username ?? string.Empty) : null,
            type == AuthConnectorType.ApiKey ? new ApiKeyAuthOut(pub.KeyName ?? string.Empty, pub.In ?? ApiKeyLocation.Header) : null,
            row.CreatedAt,
            row.UpdatedAt);
    }

    /// <summary>Checks the credentials for <paramref name="type"/> and returns their stored forms.</summary>
    public static (AuthPublic Public, AuthSecrets Secrets)? Credentials(
        AuthConnectorType type, BasicAuthIn? basic, BearerAuthIn? bearer, ApiKeyAuthIn? apiKey, Http.ValidationErrors errors)
    {
        switch (type)
        {
            case AuthConnectorType.Basic when basic is null:
                errors.Add("basic", "basic {username, password} is required for type basic.");
                return null;
            case AuthConnectorType.Basic:
                errors.Length("basic.username", basic.Username, 1, 200);
                errors.Length("basic.password", basic.Password, 1, 1000);
                if (basic.Username.Contains(':', StringComparison.Ordinal))
                {
                    errors.Add("basic.username", "A Basic auth username cannot contain ':'.");
                }

                return (new AuthPublic(Username: basic.Username), new AuthSecrets(Password: basic.Password));
            case AuthConnectorType.Bearer when bearer is null:
                errors.Add("bearer", "bearer {token} is required for type bearer.");
                return null;
            case AuthConnectorType.Bearer:
                errors.Length("bearer.token", bearer.Token, 1, 4000);
                NoControlCharacters(errors, "bearer.token", bearer.Token);
                return (new AuthPublic(), new AuthSecrets(Token: bearer.Token));
            case AuthConnectorType.ApiKey when apiKey is null:
                errors.Add("apiKey", "apiKey {name, value, in} is required for type api_key.");
                return null;
            default:
                errors.Length("apiKey.name", apiKey!.Name, 1, 100);
                errors.Length("apiKey.value", apiKey.Value, 1, 4000);
                if (apiKey.In == ApiKeyLocation.Header && !Delivery.HeaderRules.IsValidName(apiKey.Name))
                {
                    errors.Add("apiKey.name", "Not a valid HTTP header name.");
                }

                NoControlCharacters(errors, "apiKey.value", apiKey.Value);
                return (new AuthPublic(KeyName: apiKey.Name, In: apiKey.In), new AuthSecrets(Value: apiKey.Value));
        }
    }

    private static void NoControlCharacters(Http.ValidationErrors errors, string field, string value)
    {
        if (value.Any(char.IsControl))
        {
            errors.Add(field, "Control characters (such as CR or LF) are not allowed.");
        }
    }

    public static void Store(AuthConnector row, AuthConnectorType type, AuthPublic pub, AuthSecrets secrets, SecretProtector protector)
    {
        row.Type = TypeName(type);
        row.PublicJson = JsonSerializer.Serialize(pub, StoreJson);
        row.SecretsProtected = protector.Protect(JsonSerializer.Serialize(secrets, StoreJson));
    }
}
