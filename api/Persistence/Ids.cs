namespace WebhooksApi.Persistence;

/// <summary>
/// Time-ordered ids (UUIDv7) that also increase strictly within this process. Guid.CreateVersion7
/// alone is random inside one millisecond (and a test clock may not move at all), which would
/// make "newest first" lists and keyset cursors unstable.
/// </summary>
internal static class Ids
{
    private static readonly Lock Gate = new();
    private static UInt128 _last;

    public static Guid New(TimeProvider time) => New(time.GetUtcNow());

    public static Guid New(DateTimeOffset now)
    {
        Span<byte> bytes = stackalloc byte[16];
        Guid.CreateVersion7(now).TryWriteBytes(bytes, bigEndian: true, out _);
        var candidate = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes);
        lock (Gate)
        {
            if (candidate <= _last)
            {
                // Same millisecond (or a clock that went back): step past the last id. Adding 1
                // to the random tail keeps the version and variant bits in practice (the tail
                // has 62 random bits).
                candidate = _last + 1;
            }

            _last = candidate;
        }

        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, candidate);
        return new Guid(bytes, bigEndian: true);
    }
}
