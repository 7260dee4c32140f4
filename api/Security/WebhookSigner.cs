using System.Security.Cryptography;
using System.Text;

namespace WebhooksApi.Security;

/// <summary>
/// Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
/// keyed with the base64-decoded part of a `whsec_` secret. Several secrets (during a rotation)
/// give several space-separated signatures; a receiver accepts any one it can verify.
/// </summary>
internal static class WebhookSigner
{
    public const string SecretPrefix = "whsec_";
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    public static string GenerateSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The message id for a delivery: the same on every attempt, so receivers can de-duplicate.</summary>
    public static string MessageId(Guid deliveryId) => "msg_" + deliveryId.ToString("N");

    public static byte[] SecretKey(string secret)
    {
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            throw new FormatException("A signing secret starts with 'whsec_'.");
        }

        return Convert.FromBase64String(secret[SecretPrefix.Length..]);
    }

    public static string Sign(IEnumerable<string> secrets, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        var signatures = new List<string>(2);
        foreach (var secret in secrets)
        {
            signatures.Add("v1," + Convert.ToBase64String(Compute(SecretKey(secret), messageId, timestamp, body)));
        }

        return string.Join(' ', signatures);
    }

    /// <summary>True when any `v1` signature in the header matches and the timestamp is within the tolerance.</summary>
    public static bool Verify(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body, string signatureHeader, DateTimeOffset now, TimeSpan tolerance)
    {
        if (Math.Abs(now.ToUnixTimeSeconds() - timestamp) > tolerance.TotalSeconds)
        {
            return false;
        }

        var expected = Compute(SecretKey(secret), messageId, timestamp, body);
        Span<byte> given = stackalloc byte[64];
        foreach (var part in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!part.StartsWith("v1,", StringComparison.Ordinal))
            {
                continue;
            }

            if (Convert.TryFromBase64String(part[3..], given, out var length) && length == expected.Length
                && CryptographicOperations.FixedTimeEquals(given[..length], expected))
            {
                return true;
            }
        }

        return false;
    }

    private static byte[] Compute(byte[] key, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        // "{id}.{timestamp}." then the body bytes, hashed without concatenating a copy of the body.
        var prefix = Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }
}
