using System.Buffers.Binary;
using System.Security.Cryptography;

namespace WebhooksApi.Persistence;

/// <summary>
/// Time-ordered ids (UUIDv7) that also increase strictly, within this process, for every clock
/// that does not go back. Guid.CreateVersion7 alone is random inside one millisecond (and a test
/// clock may not move at all), which would make "newest first" lists and keyset cursors unstable.
/// </summary>
/// <remarks>
/// An id always carries the millisecond of the instant it was made for, never a later one, so a
/// time bound is an id bound in both directions (see <see cref="IdBounds"/>). Order inside one
/// millisecond comes from a process-wide counter in the bits after the version (42 bits, started
/// at a random point below 2^40: no wrap in practice), followed by 32 random bits.
/// Before, an id made for an earlier millisecond than the last one (a clock stepped back, or two
/// fake clocks in one test process; IdsTests makes ids in 2030) was pushed past the last id, into
/// the later millisecond, and a `to` bound on ids silently dropped such rows.
/// </remarks>
internal static class Ids
{
    private const int CounterBits = 42;
    private static long _counter = RandomNumberGenerator.GetInt32(int.MaxValue) * (1L << 9);

    public static Guid New(TimeProvider time) => New(time.GetUtcNow());

    public static Guid New(DateTimeOffset now)
    {
        var milliseconds = Math.Max(0, now.ToUnixTimeMilliseconds());
        var sequence = (ulong)Interlocked.Increment(ref _counter) & ((1UL << CounterBits) - 1);
        // 48 bits of milliseconds, version 7, the counter's top 12 bits (rand_a) ...
        var high = ((ulong)milliseconds << 16) | 0x7000UL | (sequence >> 30);
        // ... variant 10, the counter's low 30 bits and 32 random bits (rand_b).
        var low = 0x8000_0000_0000_0000UL | ((sequence & 0x3FFF_FFFFUL) << 32) | (uint)Random.Shared.NextInt64(0, 1L << 32);
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes[..8], high);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], low);
        return new Guid(bytes, bigEndian: true);
    }
}
