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
        try
        {
            return _protector.Unprotect(ciphertext);
        }
        catch (CryptographicException e)
        {
            // Never include the ciphertext or the plaintext in the message: it ends up in logs.
            throw new InvalidOperationException("A stored secret could not be decrypted: the Data Protection key ring is missing a key.", e);
        }
    }
}
