using System.Security.Cryptography;
using System.Text;
using WebhooksApi.Security;

namespace WebhooksApi.Tests.Unit;

public sealed class WebhookSignerTests
{
    // The vector published with the Standard Webhooks reference libraries (standard-webhooks/standard-webhooks,
    // libraries/*: "verifyWebhookSignWorks" / TestWebhookSign), which every conforming implementation reproduces.
    private const string SpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string SpecMessageId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long SpecTimestamp = 1614265330;
    private const string SpecBody = "{\"test\": 2432232314}";
    private const string SpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // A well-formed v1 entry that is not the signature of anything here, from the same reference tests.
    private const string ForeignSignature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    private static readonly DateTimeOffset SpecNow = DateTimeOffset.FromUnixTimeSeconds(SpecTimestamp);
    private static readonly TimeSpan Tolerance = WebhookSigner.DefaultTolerance;

    [Fact]
    public void Sign_reproduces_the_published_test_vector_from_a_string_body()
    {
        Assert.Equal(SpecSignature, WebhookSigner.Sign([SpecSecret], SpecMessageId, SpecTimestamp, SpecBody));
    }

    [Fact]
    public void Sign_reproduces_the_published_test_vector_from_utf8_bytes()
    {
        Assert.Equal(SpecSignature, WebhookSigner.Sign([SpecSecret], SpecMessageId, SpecTimestamp, Encoding.UTF8.GetBytes(SpecBody)));
    }

    [Fact]
    public void Verify_accepts_the_published_test_vector()
    {
        Assert.True(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Fact]
    public void Verify_finds_the_valid_entry_among_foreign_and_other_version_entries()
    {
        var header = string.Join(' ', ForeignSignature, "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", SpecSignature, ForeignSignature);

        Assert.True(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, SpecBody, header, SpecNow, Tolerance));
    }

    [Theory]
    [InlineData(ForeignSignature)]
    [InlineData("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLawdd")]
    [InlineData("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")]
    [InlineData("v1,")]
    [InlineData("v1,not base64 at all")]
    [InlineData("")]
    [InlineData(null)]
    public void Verify_rejects_headers_without_a_matching_v1_entry(string? header)
    {
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, SpecBody, header, SpecNow, Tolerance));
    }

    [Fact]
    public void Verify_rejects_a_tampered_body()
    {
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, "{\"test\": 2432232315}", SpecSignature, SpecNow, Tolerance));
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, SpecBody + " ", SpecSignature, SpecNow, Tolerance));
    }

    [Fact]
    public void Verify_rejects_a_tampered_message_id()
    {
        Assert.False(WebhookSigner.Verify(SpecSecret, "msg_p5jXN8AQM9LWM0D4loKWxJeK", SpecTimestamp, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Fact]
    public void Verify_rejects_a_tampered_timestamp_even_inside_the_tolerance()
    {
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp + 1, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Fact]
    public void Verify_rejects_a_signature_made_with_another_secret()
    {
        Assert.False(WebhookSigner.Verify(WebhookSigner.GenerateSecret(), SpecMessageId, SpecTimestamp, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Theory]
    [InlineData(-300, true)]
    [InlineData(300, true)]
    [InlineData(-301, false)]
    [InlineData(301, false)]
    public void Verify_enforces_the_timestamp_tolerance_both_ways(int secondsFromNow, bool expected)
    {
        // The receiver's clock moves, not the message: a message 301 s old is a replay, one 301 s ahead is forged or skewed.
        var now = SpecNow.AddSeconds(-secondsFromNow);

        Assert.Equal(expected, WebhookSigner.Verify(SpecSecret, SpecMessageId, SpecTimestamp, SpecBody, SpecSignature, now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Verify_survives_extreme_timestamps()
    {
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, long.MinValue, SpecBody, SpecSignature, SpecNow, Tolerance));
        Assert.False(WebhookSigner.Verify(SpecSecret, SpecMessageId, long.MaxValue, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Fact]
    public void Rotation_signs_with_both_secrets_during_the_overlap_and_each_verifies_alone()
    {
        var rotatedAt = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var previous = WebhookSigner.GenerateSecret();
        var current = WebhookSigner.GenerateSecret();
        var now = rotatedAt.AddHours(23);
        var timestamp = now.ToUnixTimeSeconds();
        var body = "{\"type\":\"contact.created\"}"u8;

        var active = WebhookSigner.ActiveSecrets(current, previous, rotatedAt + WebhookSigner.RotationOverlap, now);
        var header = WebhookSigner.Sign(active, "msg_rotation", timestamp, body);

        Assert.Equal([current, previous], active);
        var entries = header.Split(' ');
        Assert.Equal(2, entries.Length);
        Assert.All(entries, e => Assert.StartsWith("v1,", e, StringComparison.Ordinal));
        Assert.NotEqual(entries[0], entries[1]);
        Assert.True(WebhookSigner.Verify(current, "msg_rotation", timestamp, body, entries[0], now, Tolerance));
        Assert.True(WebhookSigner.Verify(previous, "msg_rotation", timestamp, body, entries[1], now, Tolerance));
        Assert.True(WebhookSigner.Verify(current, "msg_rotation", timestamp, body, header, now, Tolerance));
        Assert.True(WebhookSigner.Verify(previous, "msg_rotation", timestamp, body, header, now, Tolerance));
    }

    [Fact]
    public void Rotation_drops_the_previous_secret_once_the_overlap_ends()
    {
        var rotatedAt = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var expires = rotatedAt + WebhookSigner.RotationOverlap;

        Assert.Equal(["new"], WebhookSigner.ActiveSecrets("new", "old", expires, expires));
        Assert.Equal(["new"], WebhookSigner.ActiveSecrets("new", "old", expires, expires.AddDays(3)));
        Assert.Equal(["new"], WebhookSigner.ActiveSecrets("new", null, null, rotatedAt));
        Assert.Equal(["new", "old"], WebhookSigner.ActiveSecrets("new", "old", expires, expires.AddTicks(-1)));
        Assert.Equal(TimeSpan.FromHours(24), WebhookSigner.RotationOverlap);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    [InlineData("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    [InlineData("whsec_")]
    [InlineData("whsec_!!!!not-base64!!!!")]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS")]
    public void Malformed_secrets_are_refused(string secret)
    {
        Assert.False(WebhookSigner.IsValidSecret(secret));
        Assert.Throws<FormatException>(() => WebhookSigner.Sign([secret], SpecMessageId, SpecTimestamp, SpecBody));
        Assert.Throws<FormatException>(() => WebhookSigner.Verify(secret, SpecMessageId, SpecTimestamp, SpecBody, SpecSignature, SpecNow, Tolerance));
    }

    [Theory]
    [InlineData(23, false)]
    [InlineData(24, true)]
    [InlineData(32, true)]
    [InlineData(64, true)]
    [InlineData(65, false)]
    public void Secret_length_must_be_24_to_64_bytes(int bytes, bool valid)
    {
        var secret = WebhookSigner.SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes));

        Assert.Equal(valid, WebhookSigner.IsValidSecret(secret));
    }

    [Fact]
    public void A_malformed_secret_among_valid_ones_is_refused()
    {
        Assert.Throws<FormatException>(() => WebhookSigner.Sign([SpecSecret, "whsec_short"], SpecMessageId, SpecTimestamp, SpecBody));
        Assert.False(WebhookSigner.IsValidSecret(null));
    }

    [Fact]
    public void Generated_secrets_are_whsec_prefixed_32_random_bytes()
    {
        var first = WebhookSigner.GenerateSecret();
        var second = WebhookSigner.GenerateSecret();

        Assert.StartsWith("whsec_", first, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(first["whsec_".Length..]).Length);
        Assert.True(WebhookSigner.IsValidSecret(first));
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Message_ids_are_stable_per_delivery_and_distinct_across_deliveries()
    {
        var delivery = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

        var id = WebhookSigner.NewMessageId(delivery);

        Assert.Equal("msg_0f8fad5bd9cb469fa16570867728950e", id);
        Assert.Equal(id, WebhookSigner.NewMessageId(delivery));
        Assert.NotEqual(id, WebhookSigner.NewMessageId(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950f")));
        Assert.DoesNotContain('.', id);
    }

    [Theory]
    [InlineData("msg.1")]
    [InlineData("")]
    public void Sign_refuses_message_ids_that_would_make_the_signed_content_ambiguous(string messageId)
    {
        Assert.Throws<ArgumentException>(() => WebhookSigner.Sign([SpecSecret], messageId, SpecTimestamp, SpecBody));
    }

    [Fact]
    public void Sign_needs_at_least_one_secret()
    {
        Assert.Throws<ArgumentException>(() => WebhookSigner.Sign([], SpecMessageId, SpecTimestamp, SpecBody));
    }

    [Fact]
    public void Signer_agrees_with_an_independent_implementation_of_the_spec_for_random_inputs()
    {
        // Seeded so a failure reproduces; sizes straddle the signer's stack/pool switch and include empty bodies.
        var random = new Random(20240611);
        for (var run = 0; run < 300; run++)
        {
            var secrets = new string[random.Next(1, 4)];
            for (var i = 0; i < secrets.Length; i++)
            {
                secrets[i] = "whsec_" + Convert.ToBase64String(RandomBytes(random, random.Next(24, 65)));
            }

            var messageId = "msg_" + RandomToken(random, random.Next(1, 40));
            var timestamp = random.NextInt64(0, 4_000_000_000);
            var body = RandomBytes(random, run % 10 == 0 ? 0 : random.Next(1, run % 3 == 0 ? 70_000 : 1_500));

            var expected = string.Join(' ', secrets.Select(s => ReferenceSignature(s, messageId, timestamp, body)));

            Assert.Equal(expected, WebhookSigner.Sign(secrets, messageId, timestamp, body));
            Assert.True(WebhookSigner.Verify(secrets[^1], messageId, timestamp, body, expected, DateTimeOffset.FromUnixTimeSeconds(timestamp), Tolerance));
        }
    }

    [Fact]
    public void Independent_implementation_reproduces_the_published_vector()
    {
        // Guards the guard: the reference below must itself match the spec, or agreeing with it proves nothing.
        Assert.Equal(SpecSignature, ReferenceSignature(SpecSecret, SpecMessageId, SpecTimestamp, Encoding.UTF8.GetBytes(SpecBody)));
    }

    [Fact]
    public void String_and_byte_bodies_sign_alike_including_non_ascii()
    {
        var body = "{\"name\":\"Zoë 東京 🚀\",\"pad\":\"" + new string('x', 5000) + "\"}";

        Assert.Equal(
            WebhookSigner.Sign([SpecSecret], SpecMessageId, SpecTimestamp, Encoding.UTF8.GetBytes(body)),
            WebhookSigner.Sign([SpecSecret], SpecMessageId, SpecTimestamp, body));
    }

    /// <summary>The spec's description, spelled out with none of the signer's code: HMAC-SHA256 keyed with the
    /// base64 part of the secret over "{id}.{timestamp}.{body}", base64, prefixed "v1,".</summary>
    private static string ReferenceSignature(string secret, string messageId, long timestamp, byte[] body)
    {
        var key = Convert.FromBase64String(secret.Substring("whsec_".Length));
        var signed = Encoding.UTF8.GetBytes(messageId + "." + timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".").Concat(body).ToArray();
        using var hmac = new HMACSHA256(key);
        return "v1," + Convert.ToBase64String(hmac.ComputeHash(signed));
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string RandomToken(Random random, int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-éü";
        return new string(Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
    }
}
