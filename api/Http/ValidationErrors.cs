namespace WebhooksApi.Http;

/// <summary>Collects field errors for one 400 problem: keys are JSON property paths or pointers.</summary>
internal sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public ValidationErrors Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
        return this;
    }

    public void Length(string field, string? value, int min, int max, bool required = true)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, $"{field} is required.");
            }

            return;
        }

        if (value.Length < min || value.Length > max)
        {
            Add(field, min == max ? $"{field} must be {min} characters." : $"{field} must be {min} to {max} characters.");
        }
    }

    public Dictionary<string, string[]> ToDictionary() => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);

    public Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult ToProblem() => Problems.Validation(ToDictionary());
}
