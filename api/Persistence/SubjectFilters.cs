namespace WebhooksApi.Persistence;

/// <summary>
/// The log's and the deliveries list's `email` and `identifier` filters, both read from the
/// (account_id, identifier, id) index of their table: every row with an email has it as its
/// identifier too, lower-cased like the email column (migrations 20261201000013_EmailThroughIdentifier
/// and 20261202000014_DeliveryIdentifierIndex).
/// </summary>
internal static class SubjectFilters
{
    /// <summary>The contact filters a list was given, null where not given (email lower-cased by the caller).</summary>
    public static IQueryable<T> OfContact<T>(this IQueryable<T> query, ContactFilter contact)
        where T : class, ISubjectRow
    {
        if (contact.ContactId is { } contactId)
        {
            query = query.Where(r => r.ContactId == contactId);
        }

        if (contact.Email is { } email)
        {
            query = query.WithEmail(email);
        }

        return contact.Identifier is { } identifier ? query.WithIdentifier(identifier) : query;
    }

    /// <param name="email">Lower-cased by the caller, as stored.</param>
    public static IQueryable<T> WithEmail<T>(this IQueryable<T> query, string email)
        where T : class, ISubjectRow =>
        query.Where(r => r.Identifier == email && r.Email == email);

    /// <summary>
    /// Emails among identifiers are stored lower-cased; other identifiers (phones, contact ids)
    /// are matched as given. Two equality probes keep the index usable.
    /// </summary>
    public static IQueryable<T> WithIdentifier<T>(this IQueryable<T> query, string identifier)
        where T : class, ISubjectRow
    {
        var lowered = identifier.ToLowerInvariant();
        return lowered == identifier
            ? query.Where(r => r.Identifier == identifier)
            : query.Where(r => r.Identifier == identifier || r.Identifier == lowered);
    }
}

/// <summary>A list's `contactId`, `email` (lower-cased) and `identifier` filters; any may be null.</summary>
internal readonly record struct ContactFilter(string? ContactId, string? Email, string? Identifier)
{
    public bool Any => ContactId is not null || Email is not null || Identifier is not null;
}
