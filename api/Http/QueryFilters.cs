namespace WebhooksApi.Http;

/// <summary>Checks for list filters given in the query string; each error names its parameter.</summary>
internal static class QueryFilters
{
    /// <summary>An id filter: absent is null; present but not one of our ids is an error (it could never match).</summary>
    public static Guid? Id(ValidationErrors errors, string name, string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (!Guid.TryParse(value, out var id))
        {
            errors.Add(name, $"{name} must be an id this API returned.");
            return null;
        }

        return id;
    }

    /// <summary>A text filter compared exactly: absent is null, empty or oversized is an error.</summary>
    public static string? Text(ValidationErrors errors, string name, string? value, int maxLength)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length == 0 || value.Length > maxLength)
        {
            errors.Add(name, $"{name} must be 1 to {maxLength} characters.");
            return null;
        }

        return value;
    }

    /// <summary>`from` is inclusive and `to` exclusive, so the range must not be empty.</summary>
    public static void Range(ValidationErrors errors, DateTimeOffset? from, DateTimeOffset? to)
    {
        if (from is { } f && to is { } t && t <= f)
        {
            errors.Add("to", "to must be later than from (from is inclusive, to exclusive).");
        }
    }
}
