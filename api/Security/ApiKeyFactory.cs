using System.Security.Cryptography;
using System.Text;

namespace WebhooksApi.Security;

/// <summary>Makes API keys and their stored form.</summary>
internal static class ApiKeyFactory
{
    private const string KeyPrefix = "whk_";

    /// <summary>A new key: "whk_" and 32 random bytes, base64url. Shown once, never stored.</summary>
    public static string NewKey() => KeyPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// SHA-256, hex. A fast hash is right here: keys carry 256 bits of entropy, so there is
    /// nothing to brute-force, and every request is authenticated by looking this value up.
    /// </summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>What a list shows so a user can tell keys apart: "whk_AbCd1234".</summary>
    public static string DisplayPrefix(string key) => key.Length <= 12 ? key : key[..12];

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
