using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace WebhooksApi.Security;

/// <summary>
/// Encrypts secrets at rest (auth connector credentials, signing secrets, stored idempotent
/// responses, which may show a new key or signing secret) with ASP.NET Core Data
/// Protection. Its key ring lives in the database, so every node can read what another wrote.
/// </summary>
internal sealed class SecretProtector(IDataProtectionProvider provider)
{
    // The purpose string isolates these ciphertexts from any other use of the key ring; changing
    // it makes every stored secret unreadable.
    private readonly IDataProtector _protector = provider.CreateProtector("WebhooksApi.Secrets.v1");
    private const int MaxCached = 10_000;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _plaintexts = new(StringComparer.Ordinal);

    public string Protect(string plaintext) => _protector.Protect(plaintext);

    public byte[] Protect(byte[] plaintext) => _protector.Protect(plaintext);

    /// <summary>Null when the bytes are not ours to read (written before they were encrypted, or by a lost key).</summary>
    public byte[]? TryUnprotect(byte[] ciphertext)
    {
        try
        {
            return _protector.Unprotect(ciphertext);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    public string Unprotect(string ciphertext)
    {
        // Every delivery reads its connection's signing secret (and auth secrets): decrypting
        // each time (key derivation, AES, HMAC) was 3% of the process in a drain profile. A
        // ciphertext always decrypts to the same text, and a rotated or changed secret is a new
        // ciphertext, so a bounded map from one to the other is safe to keep.
        if (_plaintexts.TryGetValue(ciphertext, out var cached))
        {
            return cached;
        }

        try
        {
            var plaintext = _protector.Unprotect(ciphertext);
            if (_plaintexts.Count >= MaxCached)
            {
                _plaintexts.Clear();
            }

            _plaintexts[ciphertext] = plaintext;
            return plaintext;
        }
        catch (CryptographicException e)
        {
            // Never include the ciphertext or the plaintext in the message: it ends up in logs.
            throw new InvalidOperationException("A stored secret could not be decrypted: the Data Protection key ring is missing a key.", e);
        }
    }
}
