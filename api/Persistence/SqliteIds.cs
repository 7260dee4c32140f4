using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace WebhooksApi.Persistence;

/// <summary>
/// How SQLite stores an id: its 16 bytes as a BLOB, most significant first (RFC 9562 order), so
/// that SQLite's byte-wise comparison of BLOBs orders UUIDv7 ids by time, as PostgreSQL's uuid
/// does. Raw statements below EF bind and read ids the same way.
/// </summary>
/// <remarks>
/// EF's SQLite default is 36 characters of upper-case TEXT. Every index entry of the hot tables
/// carries one or two ids (a delivery row twelve index entries, an attempt twelve), so TEXT ids
/// made SQLite's one writer compare, copy and checksum more than twice the bytes; see the
/// BlobIds migration. Microsoft.Data.Sqlite's own Guid binding (<c>Guid.ToByteArray()</c>)
/// is little-endian in its first three fields, which would order ids by the wrong bytes.
/// </remarks>
internal static class SqliteIds
{
    public static byte[] ToBytes(Guid value) => value.ToByteArray(bigEndian: true);

    /// <summary>The 16 bytes <see cref="ToBytes"/> gives, written into <paramref name="destination"/> (no allocation).</summary>
    public static void Write(Guid value, Span<byte> destination)
    {
        if (!value.TryWriteBytes(destination, bigEndian: true, out _))
        {
            throw new ArgumentException("An id needs 16 bytes.", nameof(destination));
        }
    }

    public static Guid FromBytes(ReadOnlySpan<byte> value) =>
        value.Length == 16 ? new Guid(value, bigEndian: true) : throw new InvalidCastException($"An id is 16 bytes; this value has {value.Length}.");

    /// <summary>The id in a column of the current row (not NULL).</summary>
    public static Guid Read(System.Data.Common.DbDataReader row, int ordinal) => FromBytes(row.GetFieldValue<byte[]>(ordinal));

    public sealed class Converter() : ValueConverter<Guid, byte[]>(v => ToBytes(v), v => FromBytes(v));
}
