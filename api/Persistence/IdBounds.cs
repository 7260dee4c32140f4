using System.Buffers.Binary;

namespace WebhooksApi.Persistence;

/// <summary>
/// Turns a time into an id bound, so a date range can ride on the (…, id) indexes that already
/// give lists their newest-first order.
/// </summary>
internal static class IdBounds
{
    /// <summary>
    /// The smallest id a row created at or after <paramref name="instant"/> can have: the UUIDv7
    /// millisecond prefix of the instant with every other bit zero.
    /// </summary>
    /// <remarks>
    /// Sound because <see cref="Ids.New(DateTimeOffset)"/> is called with the same instant as the
    /// row's created_at and only ever moves an id up (past the last one), never down: an id's time
    /// is never earlier than its row's created_at. The converse does not hold (after a clock step
    /// back, or in tests where two fake clocks share the process, ids run ahead of created_at), so
    /// there is no matching upper bound: `to` is always checked on created_at itself.
    /// </remarks>
    public static Guid AtOrAfter(DateTimeOffset instant)
    {
        var milliseconds = Math.Max(0, instant.ToUnixTimeMilliseconds());
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        BinaryPrimitives.WriteInt64BigEndian(bytes[..8], milliseconds << 16);
        return new Guid(bytes, bigEndian: true);
    }
}
