using WebhooksApi.Features.Connections;

namespace WebhooksApi.Delivery;

/// <summary>Bounds on the retry parameters a connection may set.</summary>
internal static class RetryPolicyMapping
{
    public static IEnumerable<(string Field, string Message)> Validate(RetryPolicyIn policy)
    {
        if (policy.MaxAttempts is < 0 or > 50)
        {
            yield return ("retryPolicy.maxAttempts", "maxAttempts must be between 0 and 50.");
        }

        if (policy.InitialDelaySeconds is < 1 or > 3600)
        {
            yield return ("retryPolicy.initialDelaySeconds", "initialDelaySeconds must be between 1 and 3600.");
        }

        if (policy.Factor is < 1.0 or > 10.0 || (policy.Factor is { } f && double.IsNaN(f)))
        {
            yield return ("retryPolicy.factor", "factor must be between 1 and 10.");
        }

        if (policy.MaxDelaySeconds is < 1 or > 86_400)
        {
            yield return ("retryPolicy.maxDelaySeconds", "maxDelaySeconds must be between 1 and 86400.");
        }

        if (policy.WindowHours is < 1 or > 72)
        {
            yield return ("retryPolicy.windowHours", "windowHours must be between 1 and 72.");
        }

        if (policy.WindowHours is not null && policy.Kind != RetryKind.Window)
        {
            yield return ("retryPolicy.windowHours", "windowHours applies to the window policy only.");
        }
    }
}
