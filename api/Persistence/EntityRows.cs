using System.Reflection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace WebhooksApi.Persistence;

/// <summary>
/// Whole rows of one entity type read from a raw SQLite statement, with the columns, value
/// conversions and properties taken from EF's model: a property added to the entity is selected
/// and set here too, so a read below EF cannot silently leave it at its default.
/// </summary>
internal sealed class EntityRows<T>
    where T : class
{
    private readonly Column[] _columns;

    public EntityRows(IModel model)
    {
        var entity = model.FindEntityType(typeof(T)) ?? throw new InvalidOperationException($"{typeof(T).Name} is not an entity of the model.");
        Table = entity.GetTableName() ?? throw new InvalidOperationException($"{typeof(T).Name} is not mapped to a table.");
        var table = StoreObjectIdentifier.Table(Table, entity.GetSchema());
        _columns = [.. entity.GetProperties().Select(p => Column.Of(p, table))];
    }

    /// <summary>The entity's table.</summary>
    public string Table { get; }

    /// <summary>How many columns <see cref="Read"/> takes.</summary>
    public int Width => _columns.Length;

    /// <summary>The column list for a SELECT, each prefixed with the table's alias.</summary>
    public string Columns(string alias) => string.Join(", ", _columns.Select(c => $"{alias}.\"{c.Name}\""));

    /// <summary>The entity in the current row, from the columns starting at <paramref name="first"/>.</summary>
    public T Read(SqliteDataReader row, int first = 0)
    {
        // Entities have required members, which rule out the new() constraint; their constructor
        // is still the parameterless one.
        var entity = Activator.CreateInstance<T>();
        for (var i = 0; i < _columns.Length; i++)
        {
            var column = _columns[i];
            var value = row.IsDBNull(first + i) ? null : column.Get(row, first + i);
            if (value is not null && column.Converter is { } converter)
            {
                value = converter.ConvertFromProvider(value);
            }

            column.Property.SetValue(entity, value);
        }

        return entity;
    }

    private sealed record Column(string Name, Func<SqliteDataReader, int, object> Get, ValueConverter? Converter, PropertyInfo Property)
    {
        public static Column Of(IProperty property, StoreObjectIdentifier table)
        {
            var converter = property.GetTypeMapping().Converter;
            var stored = converter?.ProviderClrType ?? property.ClrType;
            stored = Nullable.GetUnderlyingType(stored) ?? stored;
            Func<SqliteDataReader, int, object> get =
                stored == typeof(string) ? (r, i) => r.GetString(i)
                : stored == typeof(Guid) ? (r, i) => r.GetGuid(i)
                : stored == typeof(int) ? (r, i) => r.GetInt32(i)
                : stored == typeof(long) ? (r, i) => r.GetInt64(i)
                : stored == typeof(bool) ? (r, i) => r.GetBoolean(i)
                : stored == typeof(double) ? (r, i) => r.GetDouble(i)
                : stored == typeof(byte[]) ? (r, i) => r.GetFieldValue<byte[]>(i)
                : throw new NotSupportedException($"{typeof(T).Name}.{property.Name}: no raw SQLite read for {stored.Name}.");
            return new Column(
                property.GetColumnName(table) ?? throw new InvalidOperationException($"{typeof(T).Name}.{property.Name} has no column."),
                get,
                converter,
                property.PropertyInfo ?? throw new NotSupportedException($"{typeof(T).Name}.{property.Name} is a shadow property."));
        }
    }
}
