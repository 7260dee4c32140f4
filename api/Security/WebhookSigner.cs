using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace WebhooksApi.Security;

/// <summary>
/// Standard Webhooks (v1.0.0) symmetric signatures:
/// <c>webhook-signature: v1,&lt;base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"&gt;</c>, keyed with the
/// base64-decoded part of a <c>whsec_</c> secret. During a secret rotation the new and the previous
/// secret both sign, giving space-separated signatures, so receivers can switch keys without downtime.
/// </summary>
internal static class WebhookSigner
{
    public const string SecretPrefix = "whsec_";
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    public const string MessageIdPrefix = "msg_";

    /// <summary>The spec asks for at least 24 random bytes; 64 is the block size of SHA-256, beyond which HMAC hashes the key anyway.</summary>
    public const int MinSecretBytes = 24;

    public const int MaxSecretBytes = 64;

    /// <summary>How long the previous secret keeps signing after a rotation: a day lets receivers deploy the new one unhurried.</summary>
    public static readonly TimeSpan RotationOverlap = TimeSpan.FromHours(24);

    /// <summary>The replay window the spec's reference libraries use.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    private const int GeneratedSecretBytes = 32;
    private const string VersionPrefix = "v1,";
    private const int HashBytes = HMACSHA256.HashSizeInBytes;

    // "v1," + base64 of 32 bytes (44 chars).
    private const int SignatureChars = 3 + 44;

    // Below this, the signed message is assembled on the stack; above it, in a pooled array.
    private const int StackMessageLimit = 1024;

    // Longest decimal long ("-9223372036854775808").
    private const int MaxTimestampBytes = 20;

    public static string GenerateSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(GeneratedSecretBytes));

    /// <summary>
    /// The <c>webhook-id</c> of a delivery. Derived from the delivery id, not random, so every retry carries
    /// the same id and receivers can use it as an idempotency key; hex has no '.', which the spec forbids in ids.
    /// </summary>
    public static string NewMessageId(Guid deliveryId) => MessageIdPrefix + deliveryId.ToString("N", CultureInfo.InvariantCulture);

    public static bool IsValidSecret(string? secret)
    {
        Span<byte> key = stackalloc byte[MaxSecretBytes];
        var valid = secret is not null && TryDecodeSecret(secret, key, out _);
        CryptographicOperations.ZeroMemory(key);
        return valid;
    }

    /// <summary>
    /// The secrets that sign at <paramref name="now"/>: the current one, then the previous one while its
    /// overlap lasts. The current one comes first so a receiver trying them in order matches on the first.
    /// </summary>
    public static IReadOnlyList<string> ActiveSecrets(string current, string? previous, DateTimeOffset? previousExpiresAt, DateTimeOffset now) =>
        previous is not null && previousExpiresAt is { } expires && now < expires ? [current, previous] : [current];

    public static string Sign(IReadOnlyList<string> secrets, string messageId, long timestamp, string body)
    {
        var length = Encoding.UTF8.GetByteCount(body);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(body, rented);
            return Sign(secrets, messageId, timestamp, rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The <c>webhook-signature</c> header value: one <c>v1,</c> entry per secret, in the order given.</summary>
    /// <exception cref="FormatException">A secret is not <c>whsec_</c> + base64 of 24..64 bytes.</exception>
    public static string Sign(IReadOnlyList<string> secrets, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        if (secrets.Count == 0)
        {
            throw new ArgumentException("At least one signing secret is needed.", nameof(secrets));
        }

        // The signed content is "{id}.{timestamp}.{body}": a '.' inside the id would let one
        // (id, timestamp) pair pass for another with the same signature.
        if (messageId.Length == 0 || messageId.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException("A message id must be non-empty and contain no '.'.", nameof(messageId));
        }

        var totalChars = (secrets.Count * (SignatureChars + 1)) - 1;
        var chars = totalChars <= 512 ? stackalloc char[totalChars] : new char[totalChars];

        byte[]? rented = null;
        var capacity = MessageCapacity(messageId, body);
        var buffer = capacity <= StackMessageLimit ? stackalloc byte[StackMessageLimit] : (rented = ArrayPool<byte>.Shared.Rent(capacity));
        Span<byte> key = stackalloc byte[MaxSecretBytes];
        Span<byte> hash = stackalloc byte[HashBytes];
        try
        {
            var message = buffer[..WriteMessage(messageId, timestamp, body, buffer)];
            var position = 0;
            for (var i = 0; i < secrets.Count; i++)
            {
                if (!TryDecodeSecret(secrets[i], key, out var keyLength))
                {
                    throw new FormatException($"Signing secret {i} is not '{SecretPrefix}' followed by base64 of {MinSecretBytes} to {MaxSecretBytes} bytes.");
                }

                HMACSHA256.HashData(key[..keyLength], message, hash);
                if (i > 0)
                {
                    chars[position++] = ' ';
                }

                VersionPrefix.CopyTo(chars[position..]);
                position += VersionPrefix.Length;
                Convert.TryToBase64Chars(hash, chars[position..], out var written);
                position += written;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        return new string(chars);
    }

    public static bool Verify(string secret, string messageId, long timestamp, string body, string? signatureHeader, DateTimeOffset now, TimeSpan tolerance)
    {
        var length = Encoding.UTF8.GetByteCount(body);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(body, rented);
            return Verify(secret, messageId, timestamp, rented.AsSpan(0, written), signatureHeader, now, tolerance);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// True when the timestamp is within <paramref name="tolerance"/> of <paramref name="now"/> (either way:
    /// the spec rejects both replays and future-dated messages) and any <c>v1</c> entry of the header matches.
    /// Entries of other versions (e.g. <c>v1a</c>) are skipped, as the spec lets a header carry several schemes.
    /// </summary>
    /// <exception cref="FormatException">The secret is malformed: a configuration error, not a forged request.</exception>
    public static bool Verify(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body, string? signatureHeader, DateTimeOffset now, TimeSpan tolerance)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tolerance, TimeSpan.Zero);

        Span<byte> key = stackalloc byte[MaxSecretBytes];
        Span<byte> expected = stackalloc byte[HashBytes];
        try
        {
            if (!TryDecodeSecret(secret, key, out var keyLength))
            {
                throw new FormatException($"The secret is not '{SecretPrefix}' followed by base64 of {MinSecretBytes} to {MaxSecretBytes} bytes.");
            }

            // Bounds compared instead of |now - timestamp| so a hostile timestamp near long.MinValue cannot overflow.
            var nowSeconds = now.ToUnixTimeSeconds();
            var toleranceSeconds = (long)tolerance.TotalSeconds;
            if (timestamp < nowSeconds - toleranceSeconds || timestamp > nowSeconds + toleranceSeconds)
            {
                return false;
            }

            if (string.IsNullOrEmpty(signatureHeader) || messageId.Length == 0)
            {
                return false;
            }

            byte[]? rented = null;
            var capacity = MessageCapacity(messageId, body);
            var buffer = capacity <= StackMessageLimit ? stackalloc byte[StackMessageLimit] : (rented = ArrayPool<byte>.Shared.Rent(capacity));
            try
            {
                HMACSHA256.HashData(key[..keyLength], buffer[..WriteMessage(messageId, timestamp, body, buffer)], expected);
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }

            Span<byte> given = stackalloc byte[HashBytes + 3];
            var header = signatureHeader.AsSpan();
            foreach (var range in header.Split(' '))
            {
                var entry = header[range];
                if (!entry.StartsWith(VersionPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                if (Convert.TryFromBase64Chars(entry[VersionPrefix.Length..], given, out var length)
                    && length == HashBytes
                    && CryptographicOperations.FixedTimeEquals(given[..length], expected))
                {
                    return true;
                }
            }

            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Decodes a <c>whsec_</c> secret into <paramref name="key"/> (at least <see cref="MaxSecretBytes"/> long).</summary>
    private static bool TryDecodeSecret(string secret, Span<byte> key, out int length)
    {
        length = 0;
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        // A destination of exactly MaxSecretBytes makes longer secrets fail to decode, which is the check we want.
        return Convert.TryFromBase64Chars(secret.AsSpan(SecretPrefix.Length), key[..MaxSecretBytes], out length)
            && length >= MinSecretBytes;
    }

    private static int MessageCapacity(string messageId, ReadOnlySpan<byte> body) =>
        Encoding.UTF8.GetByteCount(messageId) + 1 + MaxTimestampBytes + 1 + body.Length;

    /// <summary>
    /// Lays out "{id}.{timestamp}.{body}" once, so the one-shot HMAC runs over one span for every secret
    /// and the body is never turned into (or concatenated as) a string.
    /// </summary>
    private static int WriteMessage(string messageId, long timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        var position = Encoding.UTF8.GetBytes(messageId, destination);
        destination[position++] = (byte)'.';
        timestamp.TryFormat(destination[position..], out var digits, default, CultureInfo.InvariantCulture);
        position += digits;
        destination[position++] = (byte)'.';
        body.CopyTo(destination[position..]);
        return position + body.Length;
    }
}
